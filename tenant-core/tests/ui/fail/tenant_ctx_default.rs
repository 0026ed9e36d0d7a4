// `TenantCtx` has no `Default`: an "empty" context must not exist for code to fall back on.
use tenant::TenantCtx;

fn main() {
    let _ctx = TenantCtx::default();
}
