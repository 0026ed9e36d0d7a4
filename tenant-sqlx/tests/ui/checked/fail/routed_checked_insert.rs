// A checked query that writes does not run on a routed handle: `pools.route(&ctx)` runs each
// statement on the tenant's pool outside the placement fence, so a process with a stale
// registry cache would write in the database the tenant was moved from. Writes go through
// `pools.begin(&ctx)`'s transaction.
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

async fn add(pools: &PoolSet<sqlx::Sqlite>, ctx: &TenantCtx) {
    let routed = pools.route(ctx).unwrap();
    tenant::sqlx::query!(ctx, "INSERT INTO {Invoice} (id, total) VALUES ($1, $2)", 1_i64, 10_i64)
        .execute(&routed)
        .await
        .unwrap();
}

fn main() {
    let _ = add;
}
