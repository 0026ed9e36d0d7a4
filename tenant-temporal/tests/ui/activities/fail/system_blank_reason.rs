// The reason of a system activity goes to the audit log: it cannot be blank.
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use tenant::SystemCtx;

pub struct Cleanup;

#[tenant::activities]
impl Cleanup {
    #[activity(system = " ")]
    pub async fn cleanup(_actx: ActivityContext, sys: SystemCtx) -> Result<(), ActivityError> {
        let _ = sys;
        Ok(())
    }
}

fn main() {}
