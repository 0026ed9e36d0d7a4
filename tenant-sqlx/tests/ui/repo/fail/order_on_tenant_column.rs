// The tenant column has no typed column, so rows cannot be ordered (or paged) by it.
use tenant::{tenant_scoped, TenantId};

#[tenant_scoped(table = "invoices")]
pub struct Invoice {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    pub amount_cents: i64,
}

fn main() {
    let _order = Invoice::columns().tenant_id.asc();
}
