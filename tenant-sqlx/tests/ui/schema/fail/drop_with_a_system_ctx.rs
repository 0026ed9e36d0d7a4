// A `SystemCtx` is the capability to read across tenants; dropping a tenant's schema at
// offboarding takes the provisioning capability, `ProvisionCtx`.
use tenant::sqlx::TenantSchema;
use tenant::{SchemaName, SystemCtx};

async fn offboard(pool: &sqlx::PgPool, schema: &SchemaName) -> Result<(), Box<dyn std::error::Error>> {
    let sys = SystemCtx::new("nightly report")?;
    TenantSchema::new().drop(&sys, pool, schema).await?;
    Ok(())
}

fn main() {
    let _ = offboard;
}
