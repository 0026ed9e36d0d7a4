// A line comment cannot hide a join on the next line.
use tenant::{tenant_scoped, TenantCtx, TenantId};

#[tenant_scoped(table = "invoices")]
pub struct Invoice {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    pub customer_id: i64,
    pub total: i64,
}

fn misuse(ctx: &TenantCtx) {
    let _ = tenant::sqlx::query!(ctx, "SELECT i.id FROM {Invoice} i -- restricted\n JOIN customers c ON c.id = i.customer_id");
}

fn main() {
    let _ = misuse;
}
