// UPDATE .. FROM a plain table.
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
    let _ = tenant::sqlx::query!(ctx, "UPDATE {Invoice} AS i SET total = 0 FROM customers c WHERE c.id = i.customer_id");
}

fn main() {
    let _ = misuse;
}
