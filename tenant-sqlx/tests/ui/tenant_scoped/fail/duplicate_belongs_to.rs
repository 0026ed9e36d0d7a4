// Two #[belongs_to] on one field are rejected: a column refers to one parent.
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
    #[belongs_to(Customer)]
    pub customer_id: i64,
}

fn main() {}
