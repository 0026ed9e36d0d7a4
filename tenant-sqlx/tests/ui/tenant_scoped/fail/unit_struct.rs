// A unit struct is rejected: it has no columns, so no key and no tenant.
use tenant::tenant_scoped;

#[tenant_scoped(table = "invoices")]
pub struct Invoice;

fn main() {}
