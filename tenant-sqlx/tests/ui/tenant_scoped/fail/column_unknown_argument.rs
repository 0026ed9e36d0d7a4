// A misspelled `#[column]` argument is rejected with a suggestion, not ignored.
use tenant::{tenant_scoped, TenantId};

#[tenant_scoped(table = "invoices")]
pub struct Invoice {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    #[column(defualt = "0")]
    pub amount_cents: i64,
}

fn main() {}
