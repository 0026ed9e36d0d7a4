// A misspelled `#[column]` argument is reported with the closest one, not ignored.
use tenant::{tenant_scoped, TenantId};

#[tenant_scoped(table = "invoices")]
pub struct Invoice {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    #[column(tpye = "TEXT")]
    pub status: String,
}

fn main() {}
