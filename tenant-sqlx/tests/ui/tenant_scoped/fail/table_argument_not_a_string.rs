// `table = invoices` (a path, not a string literal) is rejected with a hint to quote it.
use tenant::{tenant_scoped, TenantId};

#[tenant_scoped(table = invoices)]
pub struct Invoice {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    pub amount_cents: i64,
}

fn main() {}
