// A CTE named like a table covers its own query only: the outer `invoices` is the table.
use tenant::TenantCtx;

fn misuse(ctx: &TenantCtx) {
    let _ = tenant::sqlx::query!(ctx, "SELECT id FROM invoices WHERE id IN (WITH invoices AS (SELECT 1 AS id) SELECT id FROM invoices)");
}

fn main() {
    let _ = misuse;
}
