// The declared type lands in CREATE TABLE as written: quotes, semicolons and comments are refused.
use tenant::{tenant_scoped, TenantId};

#[tenant_scoped(table = "invoices")]
pub struct Invoice {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    #[column(type = "TEXT); DROP TABLE tenants; --")]
    pub status: String,
}

fn main() {}
