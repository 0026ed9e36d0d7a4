// #[belongs_to(..)] takes one path: two parents, or an expression, are rejected.
use tenant::{tenant_scoped, TenantId};

#[tenant_scoped(table = "orders")]
pub struct Order {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    #[belongs_to(Customer, Account)]
    pub customer_id: i64,
    #[belongs_to = "Customer"]
    pub other_id: i64,
}

fn main() {}
