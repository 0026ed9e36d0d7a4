// The tenant column's type is fixed: a declared type on it would let it hold unvalidated text.
use tenant::{tenant_scoped, TenantId};

#[tenant_scoped(table = "invoices")]
pub struct Invoice {
    #[key]
    pub id: i64,
    #[tenant]
    #[column(type = "VARCHAR(8)")]
    pub tenant_id: TenantId,
}

fn main() {}
