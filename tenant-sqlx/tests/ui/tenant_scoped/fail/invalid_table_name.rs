// A table name that is not a plain SQL identifier is rejected: it is spliced into SQL text.
use tenant::{tenant_scoped, TenantId};

#[tenant_scoped(table = "invoices; drop")]
pub struct Invoice {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    pub amount_cents: i64,
}

fn main() {}
