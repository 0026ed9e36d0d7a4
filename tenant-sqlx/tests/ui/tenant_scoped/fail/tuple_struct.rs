// A tuple struct is rejected: its fields have no names to become columns.
use tenant::{tenant_scoped, TenantId};

#[tenant_scoped(table = "invoices")]
pub struct Invoice(i64, TenantId, i64);

fn main() {}
