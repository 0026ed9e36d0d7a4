// #[unique] on the #[tenant] field is rejected: it would allow one row per tenant, and the tenant already leads every index.
use tenant::{tenant_scoped, TenantId};

#[tenant_scoped(table = "invoices")]
pub struct Invoice {
    #[key]
    pub id: i64,
    #[tenant]
    #[unique]
    pub tenant_id: TenantId,
    pub amount_cents: i64,
}

fn main() {}
