// `#[key(..)]` with arguments is rejected rather than ignored: the attribute takes none.
use tenant::{tenant_scoped, TenantId};

#[tenant_scoped(table = "invoices")]
pub struct Invoice {
    #[key(auto_increment)]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    pub amount_cents: i64,
}

fn main() {}
