// #[tenant_scoped] on an enum is rejected, and the enum is still emitted: the code that uses it
// reports nothing more.
use tenant::tenant_scoped;

#[tenant_scoped(table = "invoices")]
pub enum Invoice {
    Draft { id: i64 },
    Sent { id: i64 },
}

fn main() {
    let invoice = Invoice::Draft { id: 1 };
    let (Invoice::Draft { id } | Invoice::Sent { id }) = invoice;
    let _ = id;
}
