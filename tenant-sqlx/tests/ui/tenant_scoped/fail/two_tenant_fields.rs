// Two #[tenant] fields are rejected: a row belongs to exactly one tenant.
use tenant::{tenant_scoped, TenantId};

#[tenant_scoped(table = "invoices")]
pub struct Invoice {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    #[tenant]
    pub owner: TenantId,
    pub amount_cents: i64,
}

fn main() {}
