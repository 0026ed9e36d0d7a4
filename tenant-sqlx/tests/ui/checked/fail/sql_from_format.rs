// SQL built at run time.
use tenant::TenantCtx;

fn misuse(ctx: &TenantCtx) {
    let table = "invoices";
    let _ = tenant::sqlx::query!(ctx, format!("SELECT id FROM {table}"));
}

fn main() {
    let _ = misuse;
}
