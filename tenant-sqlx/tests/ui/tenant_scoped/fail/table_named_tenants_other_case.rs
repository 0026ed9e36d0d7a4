// SQLite compares table names without regard to case, even quoted: `Tenants` is `tenants` there.
use tenant::{tenant_scoped, TenantId};

#[tenant_scoped(table = "Tenants")]
pub struct Member {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    pub name: String,
}

fn main() {}
