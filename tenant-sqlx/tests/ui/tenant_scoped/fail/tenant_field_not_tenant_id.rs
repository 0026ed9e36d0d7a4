// A #[tenant] field of type `String` is rejected: only a validated `TenantId` may scope rows.
use tenant::tenant_scoped;

#[tenant_scoped(table = "invoices")]
pub struct Invoice {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: String,
    pub amount_cents: i64,
}

fn main() {}
