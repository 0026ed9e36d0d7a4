// A bare #[belongs_to] is rejected: it must name the parent entity's type.
use tenant::{tenant_scoped, TenantId};

#[tenant_scoped(table = "orders")]
pub struct Order {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    #[belongs_to]
    pub customer_id: i64,
}

fn main() {}
