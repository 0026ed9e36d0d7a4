// The recursive branch of a CTE reads a plain table.
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
    let _ = tenant::sqlx::query!(ctx, "WITH RECURSIVE t (id) AS (SELECT id FROM {Invoice} UNION ALL SELECT i.id FROM invoices i JOIN t ON i.customer_id = t.id) SELECT id FROM t");
}

fn main() {
    let _ = misuse;
}
