// A system activity's input carries a signed system token, checked with the worker's keys,
// which live on `self`: a static system activity would have nothing to check its token with.
use std::sync::Arc;
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use tenant::SystemCtx;
use tenant::temporal::{InputVerifier, TenantActivities};

pub struct Provisioning {
    verifier: InputVerifier,
}

impl TenantActivities for Provisioning {
    fn input_verifier(&self) -> &InputVerifier {
        &self.verifier
    }
}

#[tenant::activities]
impl Provisioning {
    #[activity(system = "nightly cleanup")]
    pub async fn cleanup(_actx: ActivityContext, sys: SystemCtx) -> Result<(), ActivityError> {
        let _ = sys.reason();
        Ok(())
    }

    #[activity]
    pub async fn keep(self: Arc<Self>, _actx: ActivityContext, ctx: tenant::TenantCtx) -> Result<(), ActivityError> {
        let _ = ctx;
        Ok(())
    }
}

fn main() {}
