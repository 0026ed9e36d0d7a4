// The generated input cannot be built without the tenant context.
use tenant::{activity, TenantCtx};

#[activity]
pub async fn soft_delete_tenant(ctx: TenantCtx, reason: String) -> Result<(), String> {
    let _ = (ctx, reason);
    Ok(())
}

fn main() {
    let _input = SoftDeleteTenantInput { reason: "gdpr".into() };
}
