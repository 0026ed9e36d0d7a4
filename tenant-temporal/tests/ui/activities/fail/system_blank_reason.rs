// The reason of a system activity goes to the audit log: it cannot be blank.
use std::sync::Arc;
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use tenant::SystemCtx;

pub struct Cleanup;

#[tenant::activities]
impl Cleanup {
    #[activity(system = " ")]
    pub async fn cleanup(self: Arc<Self>, _actx: ActivityContext, sys: SystemCtx) -> Result<(), ActivityError> {
        let _ = sys;
        Ok(())
    }
}

fn main() {}
