// A #[tenant::activities] block as services write it: state behind `Arc<Self>` with the
// worker's input verifier, a system activity, the SDK's `name` argument handed on, `mut`
// bindings, and items that are not activities kept as written.
// A `[[test]]` target of the crate, so the workspace lints reach it: `missing_docs` and
// `unreachable_pub` are ours, not what a user's crate must satisfy; `dead_code` is allowed as
// trybuild allowed it when these were its `pass` cases (fields a case declares and never reads).
#![allow(missing_docs, unreachable_pub, dead_code)]
#![deny(warnings)]

use std::sync::Arc;
use std::time::Duration;
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use tenant::routing::Routing;
use tenant::temporal::{InputVerifier, TenantActivities};
use tenant::{
    InMemoryRegistry, Plan, SignedClaim, SigningKeys, SystemCtx, SystemToken, TenancyConfig,
    TenantCtx,
};

pub struct Provisioning {
    greeting: String,
    verifier: InputVerifier,
}

impl TenantActivities for Provisioning {
    fn input_verifier(&self) -> &InputVerifier {
        &self.verifier
    }
}

#[tenant::activities]
impl Provisioning {
    /// Not an activity.
    pub const LIMIT: u32 = 10;

    fn helper(&self) -> &str {
        &self.greeting
    }

    /// Greets the tenant.
    #[activity]
    pub async fn greet(
        self: Arc<Self>,
        _actx: ActivityContext,
        ctx: TenantCtx,
        mut name: String,
    ) -> Result<String, ActivityError> {
        name.push('!');
        Ok(format!("{} {name} ({})", self.helper(), ctx.tenant_id()))
    }

    #[activity(name = "tenant-info")]
    pub async fn get_tenant_info(
        self: Arc<Self>,
        _actx: ActivityContext,
        ctx: tenant::TenantCtx,
    ) -> Result<String, ActivityError> {
        Ok(ctx.plan().to_string())
    }

    #[activity(system = "count tenants for the billing report")]
    pub async fn count_tenants(
        self: Arc<Self>,
        _actx: ActivityContext,
        sys: SystemCtx,
        limit: u32,
    ) -> Result<u32, ActivityError> {
        let _ = sys.reason();
        Ok(limit.min(Self::LIMIT))
    }
}

fn main() {
    let ctx = TenantCtx::trusted(
        "acme".parse().unwrap(),
        "tenant_acme".parse().unwrap(),
        Plan::Pro,
    );
    let keys = SigningKeys::new("claims1", &[7; 32]).unwrap();
    let routing = Routing::new("default", "q", 1.try_into().unwrap());
    let lifetime = Duration::from_secs(600);
    let claim = SignedClaim::sign(&ctx, &keys, &routing.audience(), lifetime).unwrap();
    let greet = GreetInput {
        ctx: claim.clone(),
        name: "world".into(),
    };
    let info = GetTenantInfoInput { ctx: claim };
    let sys = SystemCtx::new("count tenants for the billing report").unwrap();
    let token = SystemToken::sign(&sys, &keys, &routing.audience(), lifetime).unwrap();
    let count = CountTenantsInput {
        sys: token,
        limit: 3,
    };
    let _: [tenant::temporal::ActivityInput<_>; 1] = [greet.into()];
    let _: tenant::temporal::ActivityInput<_> = info.into();
    let _: tenant::temporal::ActivityInput<_> = count.into();
    assert_eq!(Provisioning::get_tenant_info.name(), "tenant-info");
    let _options = temporalio_sdk::WorkerOptions::new("q")
        .register_activities(Provisioning {
            greeting: "hello".into(),
            verifier: InputVerifier::new(
                Arc::new(InMemoryRegistry::from_ids(["acme".parse().unwrap()]).unwrap()),
                TenancyConfig::default(),
                routing,
                keys,
            ),
        })
        .build();
}
