// The tenant column in an IN list.
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
    let _ = tenant::sqlx::query!(ctx, "SELECT id FROM {Invoice} WHERE tenant_id IN ('acme', 'globex')");
}

fn main() {
    let _ = misuse;
}
