// CALL runs a procedure the macro cannot see into.
use tenant::TenantCtx;

fn misuse(ctx: &TenantCtx) {
    let _ = tenant::sqlx::query!(ctx, "CALL purge_invoices()");
}

fn main() {
    let _ = misuse;
}
