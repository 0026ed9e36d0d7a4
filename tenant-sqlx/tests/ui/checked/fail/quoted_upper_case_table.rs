// A quoted, upper-case table name is still a plain table.
use tenant::TenantCtx;

fn misuse(ctx: &TenantCtx) {
    let _ = tenant::sqlx::query!(ctx, "SELECT id FROM \"INVOICES\"");
}

fn main() {
    let _ = misuse;
}
