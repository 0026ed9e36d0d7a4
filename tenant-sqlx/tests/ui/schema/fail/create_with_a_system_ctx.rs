// A `SystemCtx` is the capability to read across tenants; creating a tenant's schema (DDL and
// the application's migrations) takes the provisioning capability, `ProvisionCtx`.
use tenant::sqlx::TenantSchema;
use tenant::{SchemaName, SystemCtx};

async fn provision(pool: &sqlx::PgPool, schema: &SchemaName) -> Result<(), Box<dyn std::error::Error>> {
    let sys = SystemCtx::new("nightly report")?;
    TenantSchema::new().create(&sys, pool, schema).await?;
    Ok(())
}

fn main() {
    let _ = provision;
}
