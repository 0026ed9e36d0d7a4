// A `TenantCtx` does not convert into a `SystemCtx`: tenant code must not escalate to cross-tenant access.
use tenant::{Plan, SystemCtx, TenantCtx};

fn main() {
    let ctx = TenantCtx::trusted("acme".parse().unwrap(), "tenant_acme".parse().unwrap(), Plan::Free);
    let _sys: SystemCtx = ctx.clone().into();
    let _sys = SystemCtx::from(ctx);
}
