// A column made by hand from the hidden constructor cannot point past the table (it used to
// panic when the filter ran) or at the tenant column (which no filter may name).
use tenant::{tenant_scoped, TenantId};

#[tenant_scoped(table = "invoices")]
pub struct Invoice {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    pub amount_cents: i64,
}

fn main() {
    let past_the_end = tenant::sqlx::Col::<Invoice, i64>::new::<99>();
    let _ = past_the_end.eq(1);
}
