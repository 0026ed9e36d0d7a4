// Nullability comes from the Rust type, not from the declared type.
use tenant::{tenant_scoped, TenantId};

#[tenant_scoped(table = "invoices")]
pub struct Invoice {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    #[column(type = "TEXT NOT NULL")]
    pub note: String,
}

fn main() {}
