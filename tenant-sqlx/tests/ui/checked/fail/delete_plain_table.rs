// DELETE from a plain table: every tenant's rows.
use tenant::TenantCtx;

fn misuse(ctx: &TenantCtx) {
    let _ = tenant::sqlx::query!(ctx, "DELETE FROM invoices");
}

fn main() {
    let _ = misuse;
}
