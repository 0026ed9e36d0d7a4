// The reason of a system activity goes to the audit log: it cannot be blank.
use tenant::{activity, SystemCtx};

#[activity(system = " ")]
pub async fn cleanup(sys: SystemCtx) -> Result<(), String> {
    let _ = sys;
    Ok(())
}

fn main() {}
