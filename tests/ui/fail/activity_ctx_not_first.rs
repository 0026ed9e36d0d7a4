// The context must come first, where every reviewer looks for it.
use tenant::{activity, TenantCtx};

#[activity]
pub async fn create_membership(user: String, ctx: TenantCtx) -> Result<(), String> {
    let _ = (user, ctx);
    Ok(())
}

fn main() {}
