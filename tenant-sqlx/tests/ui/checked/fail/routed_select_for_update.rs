// A SELECT .. FOR UPDATE locks rows for a write to come: it belongs in the fenced transaction
// that writes (`pools.begin(&ctx)`), not on a routed handle outside the placement fence.
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

async fn lock(pools: &PoolSet<sqlx::Postgres>, ctx: &TenantCtx) -> Vec<(i64, i64)> {
    let routed = pools.route(ctx).unwrap();
    tenant::sqlx::query_as!(ctx, (i64, i64), "SELECT id, total FROM {Invoice} WHERE total > $1 FOR UPDATE", 0_i64)
        .fetch_all(&routed)
        .await
        .unwrap()
}

fn main() {
    let _ = lock;
}
