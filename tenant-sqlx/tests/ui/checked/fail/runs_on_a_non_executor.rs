// A checked query runs on a pool, connection or transaction of an enabled backend only (an entity is not tied to a backend: the executor is what must be one of an enabled feature).
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
    let url = String::from("sqlite::memory:");
    let _ = tenant::sqlx::query!(ctx, "SELECT id FROM {Invoice}").fetch_all(&url);
}

fn main() {
    let _ = misuse;
}
