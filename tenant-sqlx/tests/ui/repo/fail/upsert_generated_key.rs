// An entity whose key the database generates has no key to conflict on: no `upsert`.
use tenant::{tenant_scoped, TenantId};

#[tenant_scoped(table = "tickets")]
pub struct Ticket {
    #[key(generated)]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    pub title: String,
    #[column(default = "'open'")]
    pub status: String,
}

async fn upsert(pool: &sqlx::SqlitePool, ctx: &tenant::TenantCtx) -> Result<(), tenant::sqlx::Error> {
    let new = NewTicket { title: "t".into() };
    TicketRepo::new(pool).upsert(ctx, new, TicketPatch::default()).await?;
    Ok(())
}

fn main() {
    let _ = upsert;
}
