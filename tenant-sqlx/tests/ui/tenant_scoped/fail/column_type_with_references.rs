// A foreign key in the type would not carry the tenant: #[belongs_to] leads it with the tenant column.
use tenant::{tenant_scoped, TenantId};

#[tenant_scoped(table = "invoices")]
pub struct Invoice {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    #[column(type = "BIGINT REFERENCES customers (id)")]
    pub customer_id: i64,
}

fn main() {}
