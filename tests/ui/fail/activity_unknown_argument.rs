// A misspelled argument is an error, not ignored.
use tenant::{activity, SystemCtx};

#[activity(sytem = "cleanup")]
pub async fn cleanup(sys: SystemCtx) -> Result<(), String> {
    let _ = sys;
    Ok(())
}

fn main() {}
