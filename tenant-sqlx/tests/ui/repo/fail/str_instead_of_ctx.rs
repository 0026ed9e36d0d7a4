// A string is not a `&TenantCtx`: a tenant taken from raw input must go through the resolver first.
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
    let _invoices = repo.list("acme").await?;
    Ok(())
}

fn main() {
    let _ = lookup;
}
