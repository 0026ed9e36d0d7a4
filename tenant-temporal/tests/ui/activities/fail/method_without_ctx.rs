// An activity method that forgot the tenant: it would run for whoever's schema it is given.
use std::sync::Arc;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

pub struct Provisioning;

#[tenant::activities]
impl Provisioning {
    #[activity]
    pub async fn drop_schema(
        self: Arc<Self>,
        _actx: ActivityContext,
        schema: String,
    ) -> Result<(), ActivityError> {
        let _ = schema;
        Ok(())
    }
}

fn main() {}
