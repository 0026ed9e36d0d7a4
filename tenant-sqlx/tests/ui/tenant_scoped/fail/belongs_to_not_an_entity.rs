// #[belongs_to] names a type that is not #[tenant_scoped]: it has no table, and no tenant to lead a foreign key.
use tenant::{tenant_scoped, TenantId};

pub struct Customer {
    pub id: i64,
    pub name: String,
}

#[tenant_scoped(table = "orders")]
pub struct Order {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    #[belongs_to(Customer)]
    pub customer_id: i64,
}

fn main() {}
