// An enum is rejected: a table row is a struct with named fields.
use tenant::tenant_scoped;

#[tenant_scoped(table = "invoices")]
pub enum Invoice {
    Draft { id: i64 },
    Sent { id: i64 },
}

fn main() {}
