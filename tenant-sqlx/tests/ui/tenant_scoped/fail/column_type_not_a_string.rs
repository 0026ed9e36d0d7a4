// The DDL type of `#[column(type = ..)]` is SQL text, so it must be a string literal.
use tenant::{tenant_scoped, TenantId};

#[tenant_scoped(table = "invoices")]
pub struct Invoice {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    #[column(type = TEXT)]
    pub status: String,
}

fn main() {}
