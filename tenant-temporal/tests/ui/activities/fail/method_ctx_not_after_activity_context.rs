// The context comes right after the SDK's ActivityContext, where every reviewer looks for it.
use std::sync::Arc;
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use tenant::TenantCtx;

pub struct Memberships;

#[tenant::activities]
impl Memberships {
    #[activity]
    pub async fn create_membership(
        self: Arc<Self>,
        _actx: ActivityContext,
        user: String,
        ctx: TenantCtx,
    ) -> Result<(), ActivityError> {
        let _ = (user, ctx);
        Ok(())
    }
}

fn main() {}
