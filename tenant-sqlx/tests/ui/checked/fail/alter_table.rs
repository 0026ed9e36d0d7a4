// DDL.
use tenant::TenantCtx;

fn misuse(ctx: &TenantCtx) {
    let _ = tenant::sqlx::query!(ctx, "ALTER TABLE invoices DISABLE ROW LEVEL SECURITY");
}

fn main() {
    let _ = misuse;
}
