// Arguments belong on each #[activity], not on the block.
use std::sync::Arc;
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use tenant::TenantCtx;

pub struct Provisioning;

#[tenant::activities(system = "cleanup")]
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
