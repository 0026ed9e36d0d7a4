// A derived table in FROM over a plain table.
use tenant::TenantCtx;

fn misuse(ctx: &TenantCtx) {
    let _ = tenant::sqlx::query!(ctx, "SELECT t.id FROM (SELECT id FROM invoices) AS t");
}

fn main() {
    let _ = misuse;
}
