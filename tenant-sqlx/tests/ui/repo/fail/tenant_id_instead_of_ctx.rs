// A bare `TenantId` is not a `&TenantCtx`: an id alone does not prove the tenant was resolved and checked.
use tenant::{tenant_scoped, TenantId};

#[tenant_scoped(table = "invoices")]
pub struct Invoice {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    pub amount_cents: i64,
}

async fn lookup(pool: &sqlx::SqlitePool, tenant_id: TenantId) -> Result<(), tenant::sqlx::Error> {
    let mut repo = InvoiceRepo::new(pool);
    let _count = repo.count(&tenant_id).await?;
    let _invoices = repo.list(tenant_id).await?;
    Ok(())
}

fn main() {
    let _ = lookup;
}
