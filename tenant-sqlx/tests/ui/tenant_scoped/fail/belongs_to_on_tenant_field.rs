// #[belongs_to] on the #[tenant] field is rejected: every foreign key already leads with it.
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
    #[belongs_to(Customer)]
    pub tenant_id: TenantId,
    pub customer_id: i64,
}

fn main() {}
