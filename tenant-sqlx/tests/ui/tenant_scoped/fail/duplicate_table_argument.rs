// `table` given twice is rejected rather than one silently winning.
use tenant::{tenant_scoped, TenantId};

#[tenant_scoped(table = "invoices", table = "bills")]
pub struct Invoice {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    pub amount_cents: i64,
}

fn main() {}
