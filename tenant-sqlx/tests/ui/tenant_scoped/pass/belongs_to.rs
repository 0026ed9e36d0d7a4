// #[belongs_to] forms that expand: a parent named by a path, an optional foreign key, a text
// key, an entity that belongs to itself (a tree), and `with_parent` on each backend's pool and
// in a transaction. Nothing here runs a query.
// A `[[test]]` target of the crate, so the workspace lints reach it: `missing_docs` and
// `unreachable_pub` are ours, not what a user's crate must satisfy; `dead_code` is allowed as
// trybuild allowed it when these were its `pass` cases (fields a case declares and never reads).
#![allow(missing_docs, unreachable_pub, dead_code)]
use tenant::{TenantCtx, TenantId, tenant_scoped};

mod crm {
    use tenant::{TenantId, tenant_scoped};

    #[tenant_scoped(table = "customers")]
    pub struct Customer {
        #[key]
        pub id: i64,
        #[tenant]
        pub tenant_id: TenantId,
    }
}

#[tenant_scoped(table = "regions")]
pub struct Region {
    #[key]
    pub code: String,
    #[tenant]
    pub tenant_id: TenantId,
}

#[tenant_scoped(table = "orders")]
pub struct Order {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    #[belongs_to(crm::Customer)]
    #[index]
    pub customer_id: i64,
    #[belongs_to(Region)]
    pub region: Option<String>,
}

/// A tree: each category may have a parent category of the same tenant.
#[tenant_scoped(table = "categories")]
pub struct Category {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    #[belongs_to(Category)]
    pub parent_id: Option<i64>,
}

async fn joins(
    sqlite: &sqlx::SqlitePool,
    pg: &sqlx::PgPool,
    ctx: &TenantCtx,
) -> Result<(), tenant::sqlx::Error> {
    let c = Order::columns();
    let _: Vec<(Order, crm::Customer)> = OrderRepo::new(sqlite)
        .with_parent::<crm::Customer>(ctx, c.id.gt(1))
        .await?;
    let _: Vec<(Order, Region)> = OrderRepo::new(pg).with_parent::<Region>(ctx, None).await?;
    let mut tx = sqlite.begin().await?;
    let _: Vec<(Category, Category)> = CategoryRepo::new(&mut tx)
        .with_parent::<Category>(ctx, None)
        .await?;
    tx.commit().await?;
    Ok(())
}

fn main() {
    let _ = joins;
}
