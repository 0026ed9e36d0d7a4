// Two fields belonging to the same parent are rejected: `with_parent::<Customer>` could not choose.
use tenant::{tenant_scoped, TenantId};

#[tenant_scoped(table = "customers")]
pub struct Customer {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    pub name: String,
}

#[tenant_scoped(table = "orders")]
pub struct Order {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    #[belongs_to(Customer)]
    pub billed_to: i64,
    #[belongs_to(Customer)]
    pub shipped_to: i64,
}

fn main() {}
