// A cross-tenant `system_*` method does not accept a `&TenantCtx`: only an audited `SystemCtx` may read across tenants.
use tenant::{tenant_scoped, TenantId};

#[tenant_scoped(table = "invoices")]
pub struct Invoice {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    pub amount_cents: i64,
}

async fn export(pool: &sqlx::SqlitePool, ctx: &tenant::TenantCtx) -> Result<(), tenant::sqlx::Error> {
    let mut repo = InvoiceRepo::new(pool);
    let _all = repo.system_list(ctx).await?;
    Ok(())
}

fn main() {
    let _ = export;
}
