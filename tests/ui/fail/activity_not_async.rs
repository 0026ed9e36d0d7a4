// Activities are async fns.
use tenant::{activity, TenantCtx};

#[activity]
pub fn update_tenant_status(ctx: TenantCtx, active: bool) -> Result<(), String> {
    let _ = (ctx, active);
    Ok(())
}

fn main() {}
