// A tenant table by its plain name in FROM: nothing would restrict it.
use tenant::TenantCtx;

fn misuse(ctx: &TenantCtx) {
    let _ = tenant::sqlx::query!(ctx, "SELECT id FROM invoices");
}

fn main() {
    let _ = misuse;
}
