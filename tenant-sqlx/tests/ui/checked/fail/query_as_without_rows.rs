// query_as! on a statement that returns no rows.
use tenant::{tenant_scoped, TenantCtx, TenantId};

#[tenant_scoped(table = "invoices")]
pub struct Invoice {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    pub customer_id: i64,
    pub total: i64,
}

fn misuse(ctx: &TenantCtx) {
    let _ = tenant::sqlx::query_as!(ctx, (i64,), "UPDATE {Invoice} SET total = 0");
}

fn main() {
    let _ = misuse;
}
