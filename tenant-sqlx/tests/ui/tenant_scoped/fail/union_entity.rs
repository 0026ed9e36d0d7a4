// A union is rejected: a table row is a struct with named fields.
use tenant::tenant_scoped;

#[tenant_scoped(table = "invoices")]
pub union Invoice {
    id: i64,
    amount_cents: i64,
}

fn main() {}
