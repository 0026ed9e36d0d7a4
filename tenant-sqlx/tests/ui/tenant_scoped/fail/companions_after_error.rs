// A struct the macro rejects (here: no #[tenant] field) reports that one error, not a cascade
// from the code that uses its companions: rustc stays silent about `NewInvoice`, `InvoicePatch`
// and `InvoiceRepo` after a macro error, and the macro emits a stand-in `Invoice::columns()`.
use tenant::{tenant_scoped, TenantCtx};

#[tenant_scoped(table = "invoices")]
pub struct Invoice {
    #[key]
    pub id: i64,
    pub amount_cents: i64,
}

async fn create(pool: &sqlx::SqlitePool, ctx: &TenantCtx) -> Result<Invoice, tenant::sqlx::Error> {
    let mut repo = InvoiceRepo::new(pool);
    let created = repo.insert(ctx, NewInvoice { id: 1, amount_cents: 500 }).await?;
    let patch = InvoicePatch { amount_cents: Some(600) };
    let _ = repo.update(ctx, created.id, patch).await?;
    let _ = repo.list_where(ctx, Invoice::columns().amount_cents.gt(100)).await?;
    Ok(created)
}

fn main() {
    let _ = create;
}
