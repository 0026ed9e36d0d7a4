// A repository call without a `&TenantCtx` is rejected: no query may run without naming its tenant.
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
    let mut repo = InvoiceRepo::new(pool);
    let _invoice = repo.get(1).await?;
    Ok(())
}

fn main() {
    let _ = lookup;
}
