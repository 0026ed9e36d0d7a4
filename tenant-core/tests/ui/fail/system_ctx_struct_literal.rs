// `SystemCtx` cannot be built from a struct literal: that would skip the reason check and the audit event.
use tenant::SystemCtx;

fn main() {
    let _sys = SystemCtx { reason: "nightly export" };
}
