// The tenant column takes its value from the `TenantCtx`, never from a default.
use tenant::{tenant_scoped, TenantId};

#[tenant_scoped(table = "invoices")]
pub struct Invoice {
    #[key]
    pub id: i64,
    #[tenant]
    #[column(default = "'acme'")]
    pub tenant_id: TenantId,
    pub amount_cents: i64,
}

fn main() {}
