// A #[tenant] field whose type is an alias named `TenantId` for `String` is rejected: the tenant column must hold a validated `tenant::TenantId`.
use tenant::tenant_scoped;

mod ids {
    pub type TenantId = String;
}

#[tenant_scoped(table = "invoices")]
pub struct Invoice {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: ids::TenantId,
    pub amount_cents: i64,
}

fn main() {}
