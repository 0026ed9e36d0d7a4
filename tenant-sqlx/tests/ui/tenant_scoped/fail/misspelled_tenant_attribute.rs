use tenant::{tenant_scoped, TenantId};

#[tenant_scoped(table = "invoices")]
pub struct Invoice {
    #[key]
    pub id: i64,
    #[tenent]
    pub tenant_id: TenantId,
    pub amount_cents: i64,
}

fn main() {}
