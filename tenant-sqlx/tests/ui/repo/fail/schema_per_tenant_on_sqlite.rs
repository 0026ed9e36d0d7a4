// SQLite has no schemas: a transaction in the tenant's schema does not compile there, rather
// than silently running on the shared tables.
use tenant::sqlx::TenantTx;
use tenant::TenantCtx;

async fn in_schema(pool: &sqlx::SqlitePool, ctx: &TenantCtx) {
    let _tx = TenantTx::begin_in_schema(pool, ctx).await;
}

fn main() {}
