// INSERT into a plain table: the tenant column would not be filled.
use tenant::TenantCtx;

fn misuse(ctx: &TenantCtx) {
    let _ = tenant::sqlx::query!(ctx, "INSERT INTO invoices (id, customer_id, total) VALUES (1, 1, 1)");
}

fn main() {
    let _ = misuse;
}
