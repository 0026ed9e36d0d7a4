// A field whose name is not a plain SQL identifier is rejected: column names are spliced into SQL text.
use tenant::{tenant_scoped, TenantId};

#[tenant_scoped(table = "invoices")]
pub struct Invoice {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    pub montant_dû: i64,
}

fn main() {}
