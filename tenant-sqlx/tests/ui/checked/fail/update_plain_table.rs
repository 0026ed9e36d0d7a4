// UPDATE of a plain table: every tenant's rows.
use tenant::TenantCtx;

fn misuse(ctx: &TenantCtx) {
    let _ = tenant::sqlx::query!(ctx, "UPDATE invoices SET total = 0");
}

fn main() {
    let _ = misuse;
}
