// A `TenantId` field without #[tenant] does not scope the rows: the entity is rejected until one field is marked.
use tenant::{tenant_scoped, TenantId};

#[tenant_scoped(table = "invoices")]
pub struct Invoice {
    #[key]
    pub id: i64,
    pub tenant_id: TenantId,
    pub amount_cents: i64,
}

fn main() {}
