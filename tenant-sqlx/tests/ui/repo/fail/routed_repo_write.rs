// A routed repository is read-only: its statements run on the tenant's pool outside the
// placement fence, so a stale process would write in the database the tenant left. Writes go
// through `pools.begin(&ctx)`.
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

async fn add(pools: &PoolSet<sqlx::Sqlite>, ctx: &TenantCtx) -> Note {
    let new = NewNote { id: 1, body: "hello".into() };
    pools.repo::<Note>(ctx).unwrap().insert(ctx, new).await.unwrap()
}

fn main() {
    let _ = add;
}
