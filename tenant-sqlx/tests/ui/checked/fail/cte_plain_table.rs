// A CTE whose body reads a plain table.
use tenant::TenantCtx;

fn misuse(ctx: &TenantCtx) {
    let _ = tenant::sqlx::query!(ctx, "WITH t AS (SELECT id FROM invoices) SELECT id FROM t");
}

fn main() {
    let _ = misuse;
}
