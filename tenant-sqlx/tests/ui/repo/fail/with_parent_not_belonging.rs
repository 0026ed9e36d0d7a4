// Joining an entity the child does not #[belongs_to] is rejected: there is no foreign key to join on.
use tenant::{tenant_scoped, TenantCtx, TenantId};

#[tenant_scoped(table = "customers")]
pub struct Customer {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    pub name: String,
}

#[tenant_scoped(table = "suppliers")]
pub struct Supplier {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
}

#[tenant_scoped(table = "orders")]
pub struct Order {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    #[belongs_to(Customer)]
    pub customer_id: i64,
}

async fn orders_with_suppliers(pool: &sqlx::SqlitePool, ctx: &TenantCtx) -> Result<(), tenant::sqlx::Error> {
    let mut repo = OrderRepo::new(pool);
    let _pairs = repo.with_parent::<Supplier>(ctx, None).await?;
    Ok(())
}

fn main() {
    let _ = orders_with_suppliers;
}
