// A cursor of one entity's pages cannot be given to another entity's pages.
use tenant::sqlx::{Cursor, PageRequest};
use tenant::{tenant_scoped, TenantCtx, TenantId};

#[tenant_scoped(table = "invoices")]
pub struct Invoice {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    pub amount_cents: i64,
}

#[tenant_scoped(table = "payments")]
pub struct Payment {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    pub amount_cents: i64,
}

async fn next_payments(
    pool: &sqlx::SqlitePool,
    ctx: &TenantCtx,
    after: Cursor<Invoice>,
) -> Result<(), tenant::sqlx::Error> {
    let mut repo = PaymentRepo::new(pool);
    let request = PageRequest::new(Payment::columns().id.asc(), 20).after(Some(after));
    let _page = repo.page(ctx, request).await?;
    Ok(())
}

fn main() {
    let _ = next_payments;
}
