// The SQL in a variable: the macro cannot read it.
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
    let sql = "SELECT id FROM {Invoice}";
    let _ = tenant::sqlx::query!(ctx, sql);
}

fn main() {
    let _ = misuse;
}
