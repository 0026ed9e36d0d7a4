// An UPDATE whose RETURNING makes it look like a read is still a write: a routed handle, outside
// the placement fence, does not run it. Writes go through `pools.begin(&ctx)`'s transaction.
use tenant::sqlx::PoolSet;
use tenant::{tenant_scoped, TenantCtx, TenantId};

#[tenant_scoped(table = "invoices")]
pub struct Invoice {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    pub total: i64,
}

async fn bump(pools: &PoolSet<sqlx::Postgres>, ctx: &TenantCtx) -> i64 {
    let routed = pools.route(ctx).unwrap();
    tenant::sqlx::query_scalar!(ctx, i64, "UPDATE {Invoice} SET total = total + 1 WHERE id = $1 RETURNING total", 1_i64)
        .fetch_one(&routed)
        .await
        .unwrap()
}

fn main() {
    let _ = bump;
}
