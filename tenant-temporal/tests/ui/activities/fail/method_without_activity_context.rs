// The SDK hands every activity its ActivityContext first; the tenant context comes after it.
use std::sync::Arc;
use temporalio_sdk::activities::ActivityError;
use tenant::TenantCtx;

pub struct Provisioning;

#[tenant::activities]
impl Provisioning {
    #[activity]
    pub async fn run_migrations(
        self: Arc<Self>,
        ctx: TenantCtx,
        version: u32,
    ) -> Result<(), ActivityError> {
        let _ = (ctx, version);
        Ok(())
    }
}

fn main() {}
