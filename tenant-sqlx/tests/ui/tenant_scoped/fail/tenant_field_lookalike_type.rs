// A #[tenant] field of a user type that is merely named `TenantId` is rejected: only `tenant::TenantId` is validated.
use tenant::tenant_scoped;

mod ids {
    pub struct TenantId(pub String);
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
