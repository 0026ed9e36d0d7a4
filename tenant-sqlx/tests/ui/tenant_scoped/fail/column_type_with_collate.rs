// A collation is not part of the type name.
use tenant::{tenant_scoped, TenantId};

#[tenant_scoped(table = "invoices")]
pub struct Invoice {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    #[column(type = "TEXT COLLATE C")]
    pub name: String,
}

fn main() {}
