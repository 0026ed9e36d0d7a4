// There is no filter column for the tenant: callers cannot name another tenant in `list_where`.
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
    let other: TenantId = "globex".parse().unwrap();
    let _filter = Invoice::columns().tenant_id.eq(other);
}
