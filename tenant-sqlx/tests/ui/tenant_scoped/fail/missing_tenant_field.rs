// An entity without a #[tenant] field is rejected: its rows could not be scoped to a tenant.
use tenant::tenant_scoped;

#[tenant_scoped(table = "invoices")]
pub struct Invoice {
    #[key]
    pub id: i64,
    pub amount_cents: i64,
}

fn main() {}
