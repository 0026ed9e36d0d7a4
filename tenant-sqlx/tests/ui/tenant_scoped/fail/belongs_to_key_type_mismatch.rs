// A #[belongs_to] field must hold the parent's key: `String` cannot hold a customer's `i64` key.
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
    pub customer_id: String,
}

fn main() {}
