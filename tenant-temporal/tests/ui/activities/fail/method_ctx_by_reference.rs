// The context is part of the input that crosses the engine: it is taken by value.
use std::sync::Arc;
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use tenant::TenantCtx;

pub struct Provisioning;

#[tenant::activities]
impl Provisioning {
    #[activity]
    pub async fn run_migrations(
        self: Arc<Self>,
        _actx: ActivityContext,
        ctx: &TenantCtx,
    ) -> Result<(), ActivityError> {
        let _ = ctx;
        Ok(())
    }
}

fn main() {}
