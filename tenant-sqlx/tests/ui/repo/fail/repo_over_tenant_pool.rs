// A `TenantPool` gives out tenant-bound transactions only: a repository over it (the
// transaction forgotten) does not compile. `pool.begin(&ctx)` (or axum's `RequestTx`) is the way.
use tenant::sqlx::TenantPool;
use tenant::{tenant_scoped, TenantCtx, TenantId};

#[tenant_scoped(table = "notes")]
pub struct Note {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    pub body: String,
}

async fn list(pool: &TenantPool<sqlx::Sqlite>, ctx: &TenantCtx) -> Vec<Note> {
    NoteRepo::new(pool).list(ctx).await.unwrap()
}

fn main() {
    let _ = list;
}
