// Comparing the tenant column: another tenant named in the SQL.
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
    let _ = tenant::sqlx::query!(ctx, "SELECT id FROM {Invoice} WHERE tenant_id = 'globex'");
}

fn main() {
    let _ = misuse;
}
