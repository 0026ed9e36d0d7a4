// A context's user and roles come from the request resolver's user hook: code that holds a
// context cannot attach a user or roles of its choosing to it.
use tenant::TenantCtx;

fn escalate(ctx: TenantCtx) -> TenantCtx {
    ctx.with_user("mallory", ["admin"])
}

fn main() {
    let _ = escalate;
}
