// DDL.
use tenant::TenantCtx;

fn misuse(ctx: &TenantCtx) {
    let _ = tenant::sqlx::query!(ctx, "CREATE TABLE notes (id INTEGER)");
}

fn main() {
    let _ = misuse;
}
