// A #[key] of type `Option<_>` is rejected: primary key columns are NOT NULL.
use tenant::{tenant_scoped, TenantId};

#[tenant_scoped(table = "invoices")]
pub struct Invoice {
    #[key]
    pub id: Option<i64>,
    #[tenant]
    pub tenant_id: TenantId,
    pub amount_cents: i64,
}

fn main() {}
