// #[belongs_to("customers")] is rejected: it names the parent's type, whose table name it knows.
use tenant::{tenant_scoped, TenantId};

#[tenant_scoped(table = "orders")]
pub struct Order {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    #[belongs_to("customers")]
    pub customer_id: i64,
}

fn main() {}
