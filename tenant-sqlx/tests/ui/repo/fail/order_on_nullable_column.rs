// A nullable column cannot be ordered on: NULLs sort differently on SQLite and PostgreSQL, and a
// keyset cursor cannot step past one.
use tenant::{tenant_scoped, TenantId};

#[tenant_scoped(table = "invoices")]
pub struct Invoice {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    pub due_at: Option<i64>,
}

fn main() {
    let _order = Invoice::columns().due_at.desc();
}
