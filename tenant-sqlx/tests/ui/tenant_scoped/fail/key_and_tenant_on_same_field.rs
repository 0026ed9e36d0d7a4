// #[key] and #[tenant] on one field are rejected: the key must identify a row within its tenant.
use tenant::{tenant_scoped, TenantId};

#[tenant_scoped(table = "invoices")]
pub struct Invoice {
    #[key]
    #[tenant]
    pub tenant_id: TenantId,
    pub amount_cents: i64,
}

fn main() {}
