// Two #[key] fields are rejected: composite keys are not supported, and silently picking one would be wrong.
use tenant::{tenant_scoped, TenantId};

#[tenant_scoped(table = "invoices")]
pub struct Invoice {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    #[key]
    pub number: i64,
    pub amount_cents: i64,
}

fn main() {}
