// A `SystemCtx` reason must be a `&'static str`: the audited reason is code a reviewer reads, not runtime input.
use tenant::SystemCtx;

fn main() {
    let job = "purge";
    let _sys = SystemCtx::new(&format!("nightly {job}"));
}
