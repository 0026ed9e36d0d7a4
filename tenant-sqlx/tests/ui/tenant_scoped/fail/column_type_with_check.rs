// A CHECK constraint is not a type name.
use tenant::{tenant_scoped, TenantId};

#[tenant_scoped(table = "invoices")]
pub struct Invoice {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    #[column(type = "NUMERIC(10, 2) CHECK (amount > 0)")]
    pub amount: String,
}

fn main() {}
