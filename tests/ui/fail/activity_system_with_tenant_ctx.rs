// A system activity works across tenants through an audited SystemCtx, not a tenant's context.
use tenant::{activity, TenantCtx};

#[activity(system = "system-wide cleanup")]
pub async fn cleanup(ctx: TenantCtx) -> Result<(), String> {
    let _ = ctx;
    Ok(())
}

fn main() {}
