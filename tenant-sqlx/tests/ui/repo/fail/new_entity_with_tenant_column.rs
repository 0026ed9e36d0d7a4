// `NewInvoice` has no tenant column: the repository takes the tenant from the ctx, never from the caller.
use tenant::{tenant_scoped, TenantId};

#[tenant_scoped(table = "invoices")]
pub struct Invoice {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    pub amount_cents: i64,
}

fn main() {
    let tenant_id: TenantId = "acme".parse().unwrap();
    let _new = NewInvoice {
        id: 1,
        tenant_id,
        amount_cents: 990,
    };
}
