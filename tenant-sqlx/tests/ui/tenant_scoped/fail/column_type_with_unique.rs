// A constraint in the type would be unique across tenants: one tenant could probe another's values.
use tenant::{tenant_scoped, TenantId};

#[tenant_scoped(table = "invoices")]
pub struct Invoice {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    #[column(type = "TEXT UNIQUE")]
    pub number: String,
}

fn main() {}
