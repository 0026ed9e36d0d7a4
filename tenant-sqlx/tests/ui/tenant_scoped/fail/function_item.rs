// #[tenant_scoped] on a function is rejected with the macro's own message, and the function is
// still emitted: the code that calls it reports nothing more.
use tenant::tenant_scoped;

#[tenant_scoped(table = "invoices")]
pub fn invoice_total(amounts: &[i64]) -> i64 {
    amounts.iter().sum()
}

fn main() {
    let _total: i64 = invoice_total(&[1, 2]);
}
