// #[belongs_to] on the #[key] field is rejected: the key identifies this row, not its parent.
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
    #[belongs_to(Customer)]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
}

fn main() {}
