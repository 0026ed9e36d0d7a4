// The primary key is (tenant, #[key]); a type cannot declare another.
use tenant::{tenant_scoped, TenantId};

#[tenant_scoped(table = "invoices")]
pub struct Invoice {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    #[column(type = "BIGINT PRIMARY KEY")]
    pub legacy_id: i64,
}

fn main() {}
