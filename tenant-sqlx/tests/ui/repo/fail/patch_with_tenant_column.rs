// `InvoicePatch` has no tenant column: an update must not move a row to another tenant.
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
    let _patch = InvoicePatch {
        tenant_id: Some("globex".parse().unwrap()),
        ..Default::default()
    };
}
