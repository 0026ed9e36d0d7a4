// DDL.
use tenant::TenantCtx;

fn misuse(ctx: &TenantCtx) {
    let _ = tenant::sqlx::query!(ctx, "DROP TABLE invoices");
}

fn main() {
    let _ = misuse;
}
