// SQLite has no row-level security: asking for it does not compile, rather than silently
// leaving the table unprotected.
use tenant::{tenant_scoped, TenantId};

#[tenant_scoped(table = "invoices")]
pub struct Invoice {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    pub amount_cents: i64,
}

async fn protect(pool: &sqlx::SqlitePool) {
    InvoiceRepo::new(pool).row_level_security().await.unwrap();
}

fn main() {}
