// A default belongs in #[column(default = ..)], not in the type.
use tenant::{tenant_scoped, TenantId};

#[tenant_scoped(table = "invoices")]
pub struct Invoice {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    #[column(type = "TEXT DEFAULT 'open'")]
    pub status: String,
}

fn main() {}
