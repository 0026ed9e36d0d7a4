// A refused query still has its type: the code around it (`.fetch_all(..).await?`, the rows'
// type) adds no error of its own, only the macro's is reported.
use tenant::{tenant_scoped, TenantCtx, TenantId};

#[tenant_scoped(table = "invoices")]
pub struct Invoice {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    pub total: i64,
}

async fn misuse(ctx: &TenantCtx, pool: &sqlx::SqlitePool) -> Result<i64, tenant::sqlx::Error> {
    let rows: Vec<(i64, i64)> =
        tenant::sqlx::query_as!(ctx, (i64, i64), "SELECT id, total FROM invoices WHERE id > $1", 0_i64)
            .fetch_all(pool)
            .await?;
    Ok(rows.len() as i64)
}

fn main() {
    let _ = misuse;
}
