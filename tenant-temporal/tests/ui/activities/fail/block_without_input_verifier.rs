// Tenant activities are verified with their block's InputVerifier: a block type that has none
// does not compile.
use std::sync::Arc;
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use tenant::TenantCtx;

pub struct Provisioning;

#[tenant::activities]
impl Provisioning {
    #[activity]
    pub async fn get_tenant_info(
        self: Arc<Self>,
        _actx: ActivityContext,
        ctx: TenantCtx,
    ) -> Result<String, ActivityError> {
        Ok(ctx.tenant_id().to_string())
    }
}

fn main() {}
