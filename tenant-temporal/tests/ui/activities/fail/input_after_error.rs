// A block the macro rejects (here: an activity that is not async) reports that one error, not a
// cascade from the code that uses it: the block's other items are still emitted, and rustc stays
// silent about the `GetTenantInfoInput` the macro did not generate.
use std::sync::Arc;
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use tenant::{TenantClaim, TenantCtx};

pub struct Provisioning;

#[tenant::activities]
impl Provisioning {
    pub const LIMIT: u32 = 10;

    #[activity]
    pub fn get_tenant_info(
        self: Arc<Self>,
        _actx: ActivityContext,
        ctx: TenantCtx,
    ) -> Result<String, ActivityError> {
        Ok(ctx.tenant_id().to_string())
    }
}

pub fn start(claim: TenantClaim) -> (u32, GetTenantInfoInput) {
    (Provisioning::LIMIT, GetTenantInfoInput { ctx: claim })
}

fn main() {}
