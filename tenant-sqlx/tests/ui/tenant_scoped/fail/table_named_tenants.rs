// `tenants` is the tenant registry's own table: an entity on it would mix tenant rows with the
// registry's, and `CREATE TABLE IF NOT EXISTS` would silently keep the registry's columns.
use tenant::{tenant_scoped, TenantId};

#[tenant_scoped(table = "tenants")]
pub struct Member {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    pub name: String,
}

fn main() {}
