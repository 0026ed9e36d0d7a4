// The context is deserialised from the input for each run: it is taken by value.
use tenant::{activity, TenantCtx};

#[activity]
pub async fn get_tenant_info(ctx: &TenantCtx) -> Result<String, String> {
    Ok(ctx.tenant_id().to_string())
}

fn main() {}
