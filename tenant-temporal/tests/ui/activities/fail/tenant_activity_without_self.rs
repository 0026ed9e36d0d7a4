// A tenant activity's input is verified with the worker's registry, which lives on `self`: a
// static tenant activity would have nothing to verify its claim with.
use std::sync::Arc;
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use tenant::TenantCtx;
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
    #[activity]
    pub async fn get_tenant_info(
        _actx: ActivityContext,
        ctx: TenantCtx,
    ) -> Result<String, ActivityError> {
        Ok(ctx.tenant_id().to_string())
    }

    #[activity]
    pub async fn keep(self: Arc<Self>, _actx: ActivityContext, ctx: TenantCtx) -> Result<(), ActivityError> {
        let _ = ctx;
        Ok(())
    }
}

fn main() {}
