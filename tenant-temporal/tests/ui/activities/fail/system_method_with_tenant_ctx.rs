// A system activity runs under an audited SystemCtx, never under a tenant context.
use std::sync::Arc;
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use tenant::{SystemCtx, TenantCtx};

pub struct Provisioning;

#[tenant::activities]
impl Provisioning {
    #[activity(system = "nightly cleanup")]
    pub async fn cleanup(
        self: Arc<Self>,
        _actx: ActivityContext,
        ctx: TenantCtx,
    ) -> Result<(), ActivityError> {
        let _ = ctx;
        Ok(())
    }
}

#[allow(dead_code)]
fn unused(_: SystemCtx) {}

fn main() {}
