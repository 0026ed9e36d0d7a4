// `#[column(default = ..)]` takes the SQL expression as a string literal.
use tenant::{tenant_scoped, TenantId};

#[tenant_scoped(table = "invoices")]
pub struct Invoice {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    #[column(default = 0)]
    pub amount_cents: i64,
}

fn main() {}
