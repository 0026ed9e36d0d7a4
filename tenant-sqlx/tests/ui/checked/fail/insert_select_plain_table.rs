// INSERT .. SELECT from a plain table: every tenant's rows copied into this one.
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
    let _ = tenant::sqlx::query!(ctx, "INSERT INTO {Invoice} (id, customer_id, total) SELECT id, customer_id, total FROM invoices");
}

fn main() {
    let _ = misuse;
}
