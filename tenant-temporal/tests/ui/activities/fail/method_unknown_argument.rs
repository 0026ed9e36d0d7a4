// Only the SDK's `name` and our `system` reason are arguments of #[activity].
use std::sync::Arc;
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use tenant::TenantCtx;

pub struct Provisioning;

#[tenant::activities]
impl Provisioning {
    #[activity(retries = 3)]
    pub async fn get_tenant_info(
        self: Arc<Self>,
        _actx: ActivityContext,
        ctx: TenantCtx,
    ) -> Result<String, ActivityError> {
        Ok(ctx.tenant_id().to_string())
    }
}

fn main() {}
