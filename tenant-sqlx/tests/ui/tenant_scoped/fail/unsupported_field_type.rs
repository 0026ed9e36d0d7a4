// A field type with no SQL column mapping is rejected at the field, with the list of supported types.
use tenant::{tenant_scoped, TenantId};

pub struct Money {
    pub cents: i64,
}

#[tenant_scoped(table = "invoices")]
pub struct Invoice {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    pub amount: Money,
}

fn main() {}
