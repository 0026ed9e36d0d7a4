// Pattern matching is for text columns: `like` and `starts_with` on a number do not compile.
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
    let _ = Invoice::columns().amount_cents.starts_with("10");
}
