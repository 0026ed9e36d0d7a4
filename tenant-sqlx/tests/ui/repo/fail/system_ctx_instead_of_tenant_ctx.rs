// A `SystemCtx` cannot stand in for a `&TenantCtx`: cross-tenant access is limited to the audited system_* reads.
use tenant::{tenant_scoped, TenantId};

#[tenant_scoped(table = "invoices")]
pub struct Invoice {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    pub amount_cents: i64,
}

async fn lookup(pool: &sqlx::SqlitePool) -> Result<(), tenant::sqlx::Error> {
    let sys = tenant::SystemCtx::new("nightly export")?;
    let mut repo = InvoiceRepo::new(pool);
    let _invoices = repo.list(&sys).await?;
    let _deleted = repo.delete(sys, 1).await?;
    Ok(())
}

fn main() {
    let _ = lookup;
}
