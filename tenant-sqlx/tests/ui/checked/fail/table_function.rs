// A table function may read any tenant's rows.
use tenant::TenantCtx;

fn misuse(ctx: &TenantCtx) {
    let _ = tenant::sqlx::query!(ctx, "SELECT * FROM invoices_of('globex')");
}

fn main() {
    let _ = misuse;
}
