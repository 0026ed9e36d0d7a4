// Workflow code cannot build an activity input without the tenant's claim.
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
    pub async fn run_migrations(
        self: Arc<Self>,
        _actx: ActivityContext,
        ctx: TenantCtx,
        version: u32,
    ) -> Result<u32, ActivityError> {
        let _ = ctx;
        Ok(version)
    }
}

#[allow(dead_code)]
fn schedule() -> RunMigrationsInput {
    RunMigrationsInput { version: 3 }
}

fn main() {}
