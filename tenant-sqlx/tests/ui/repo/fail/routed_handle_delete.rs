// A repository over `PoolSet::route`'s handle is read-only like `PoolSet::repo`'s: a delete
// through it does not compile either. Writes go through `pools.begin(&ctx)`.
use tenant::sqlx::PoolSet;
use tenant::{tenant_scoped, TenantCtx, TenantId};

#[tenant_scoped(table = "notes")]
pub struct Note {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    pub body: String,
}

async fn remove(pools: &PoolSet<sqlx::Postgres>, ctx: &TenantCtx) -> u64 {
    NoteRepo::new(pools.route(ctx).unwrap()).delete(ctx, 1).await.unwrap()
}

fn main() {
    let _ = remove;
}
