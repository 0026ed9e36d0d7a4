// An alias named like a table does not make that table restricted.
use tenant::{tenant_scoped, TenantCtx, TenantId};

#[tenant_scoped(table = "customers")]
pub struct Customer {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    pub name: String,
}

fn misuse(ctx: &TenantCtx) {
    let _ = tenant::sqlx::query!(ctx, "SELECT invoices.id FROM {Customer} AS invoices, invoices i WHERE i.id = invoices.id");
}

fn main() {
    let _ = misuse;
}
