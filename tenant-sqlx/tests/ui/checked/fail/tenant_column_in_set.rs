// Writing the tenant column: a row moved to another tenant.
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
    let _ = tenant::sqlx::query!(ctx, "UPDATE {Invoice} SET tenant_id = $1", "globex");
}

fn main() {
    let _ = misuse;
}
