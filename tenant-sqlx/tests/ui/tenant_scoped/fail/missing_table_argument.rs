// #[tenant_scoped] without `table = ".."` is rejected: the table name is never guessed.
use tenant::{tenant_scoped, TenantId};

#[tenant_scoped]
pub struct Invoice {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    pub amount_cents: i64,
}

fn main() {}
