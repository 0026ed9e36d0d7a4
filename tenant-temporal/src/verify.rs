//! The worker's side: an activity input opened, its signed claim (or system token) checked, its
//! task checked against the route the signed claim gives, and the claim verified by the registry,
//! before the body runs.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use serde::Serialize;
use serde::de::DeserializeOwned;
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use tenant_core::routing::{QueueKind, Routing};
use tenant_core::signed::{Audience, SignedClaimError};
use tenant_core::{
    AUDIT_TARGET, ClaimError, SignedClaim, SigningKeys, SystemCtx, SystemToken, TenancyConfig,
    TenantClaim, TenantCtx, TenantRegistry,
};

use crate::input::{ActivityInput, DecodeError, input_rejected};
use crate::options::SYSTEM_FAIRNESS_KEY;

/// Why the worker refused an activity input.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ActivityInputError {
    /// The payload did not decode into the activity's input: its tenant claim is missing or
    /// malformed, or the input has a field the activity does not take. The message names the
    /// JSON path of the refused value (`ctx.tenant_id`, `target_version`).
    #[error("activity `{activity}`: input rejected {error}")]
    Malformed {
        /// The activity type.
        activity: String,
        /// What was refused, and where.
        error: DecodeError,
    },
    /// A system activity's reason is not a valid [`SystemCtx`] reason (the macro checks it at
    /// compile time, so this is not expected).
    #[error("activity `{activity}`: {reason}")]
    SystemReason {
        /// The activity type.
        activity: String,
        /// Why the reason was refused.
        reason: String,
    },
    /// The signed claim or system token was refused: not signed by an accepted key (an unsigned
    /// claim does not decode: see `Malformed`), expired, for another audience, or for another
    /// system activity's reason.
    #[error("activity `{activity}`: {source}")]
    Signature {
        /// The activity type.
        activity: String,
        /// Why the claim or token was refused.
        #[source]
        source: SignedClaimError,
    },
    /// The registry did not vouch for the claimed tenant.
    #[error("activity `{activity}`: {source}")]
    Claim {
        /// The activity type.
        activity: String,
        /// Why the claim was refused.
        #[source]
        source: ClaimError,
    },
    /// The task did not travel on the route the signed claim gives: no fairness key or another
    /// one, another fairness weight than its signed plan's, a priority key of its own, or
    /// another task queue than the tenant's shard.
    #[error("activity `{activity}`: the task's {what} is not the claimed tenant's route")]
    RouteMismatch {
        /// The activity type.
        activity: String,
        /// What differed: `"fairness key"`, `"fairness weight"`, `"priority key"` or
        /// `"task queue"`.
        what: &'static str,
    },
}

impl ActivityInputError {
    fn into_activity_error(self) -> ActivityError {
        tracing::warn!(target: AUDIT_TARGET, error = %self, "activity input rejected");
        // A registry that could not be read may answer on the next attempt; every other refusal
        // is about the payload or its route, which a retry cannot change.
        let retryable = matches!(
            self,
            ActivityInputError::Claim {
                source: ClaimError::Registry(_),
                ..
            }
        );

        ActivityError::application(input_rejected(self, retryable))
    }
}

/// A generated `<Method>Input` of a tenant activity: the signed claim it carries. Not a public
/// API.
#[doc(hidden)]
pub trait TenantInput {
    /// The claim the payload makes.
    fn claim(&self) -> &SignedClaim;
}

/// A generated `<Method>Input` of a system activity: the system token it carries. Not a public
/// API.
#[doc(hidden)]
pub trait SystemInput {
    /// The token the payload carries.
    fn token(&self) -> &SystemToken;
}

/// What a worker checks every activity input against: the claim-signing keys it accepts, the
/// routing its workflows schedule with (whose [`audience`](Routing::audience) every claim and
/// token must be signed for, and whose route every task must have travelled), and the registry
/// and tenancy configuration that turn a signed claim into a [`TenantCtx`].
///
/// ```
/// use std::sync::Arc;
/// use tenant::routing::{QueueKind, Routing};
/// use tenant::temporal::{InputVerifier, TenantActivities};
/// use tenant::{InMemoryRegistry, PlanWeights, SigningKeys, TenancyConfig};
///
/// pub struct Provisioning {
///     verifier: InputVerifier,
/// }
///
/// impl TenantActivities for Provisioning {
///     fn input_verifier(&self) -> &InputVerifier {
///         &self.verifier
///     }
/// }
///
/// // One routing for the worker and the workflows that schedule on it.
/// let routing = Routing::new("default", "provisioning", 4.try_into()?)
///     .with_weights("free=1,pro=5,enterprise=20".parse::<PlanWeights>()?);
/// // The keys the signers sign claims with: from configuration, never from a payload.
/// let keys: SigningKeys = "claims1:tlL9C3QBIVlBWxotkSiN2fBkFH9h2Y3eQ+jLNdhOimU=".parse()?;
/// let registry = InMemoryRegistry::from_ids(["acme".parse()?, "globex".parse()?])?;
/// let verifier =
///     InputVerifier::new(Arc::new(registry), TenancyConfig::default(), routing.clone(), keys);
/// assert_eq!(verifier.routing(), &routing);
/// let _activities = Provisioning { verifier };
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct InputVerifier {
    registry: Arc<dyn VerifyClaims>,
    config: TenancyConfig,
    routing: Routing,
    audience: Audience,
    keys: Arc<SigningKeys>,
}

impl InputVerifier {
    /// Checks claims and system tokens with `keys` (a signature by any accepted key of the
    /// ring), for the audience of `routing`, tasks against the routes of `routing`, and the
    /// claimed tenants against `registry` and `config` (its allow-list).
    pub fn new<R: TenantRegistry + 'static>(
        registry: Arc<R>,
        config: TenancyConfig,
        routing: Routing,
        keys: impl Into<Arc<SigningKeys>>,
    ) -> Self {
        InputVerifier {
            registry: registry as Arc<dyn VerifyClaims>,
            config,
            audience: routing.audience(),
            routing,
            keys: keys.into(),
        }
    }

    /// The routing tasks are checked against.
    pub fn routing(&self) -> &Routing {
        &self.routing
    }
}

impl fmt::Debug for InputVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InputVerifier")
            .field("config", &self.config)
            .field("routing", &self.routing)
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// A registry behind a pointer: `TenantRegistry`'s futures are not object safe.
trait VerifyClaims: Send + Sync {
    fn verify<'a>(
        &'a self,
        claim: &'a TenantClaim,
        config: &'a TenancyConfig,
    ) -> BoxFuture<'a, Result<TenantCtx, ClaimError>>;
}

impl<R: TenantRegistry> VerifyClaims for R {
    fn verify<'a>(
        &'a self,
        claim: &'a TenantClaim,
        config: &'a TenancyConfig,
    ) -> BoxFuture<'a, Result<TenantCtx, ClaimError>> {
        Box::pin(claim.verify(self, config))
    }
}

/// The activities of a `#[tenant::activities]` block: where their worker's [`InputVerifier`]
/// is. A tenant activity takes `self: Arc<Self>` so that its input is verified with it.
#[diagnostic::on_unimplemented(
    message = "`{Self}` has tenant activities but no `InputVerifier` to check their inputs with",
    label = "the worker verifies this activity's tenant claim with `{Self}`'s `InputVerifier`",
    note = "implement `tenant::temporal::TenantActivities` for `{Self}`, returning the verifier built from the worker's registry and routing"
)]
pub trait TenantActivities: Send + Sync + 'static {
    /// The verifier of this worker's inputs.
    fn input_verifier(&self) -> &InputVerifier;
}

fn decoded<T: Serialize + DeserializeOwned>(
    input: ActivityInput<T>,
    actx: &ActivityContext,
) -> Result<T, ActivityError> {
    input.decode().map_err(|error| {
        ActivityInputError::Malformed {
            activity: actx.info().activity_type.clone(),
            error,
        }
        .into_activity_error()
    })
}

/// The task's priority against `route`'s: its fairness key, its fairness weight (the weight of
/// the plan the claim was signed with), and no priority key of its own (the routes give every
/// tenant the server's default, so a task that names one is jumping the queue).
pub(crate) fn check_priority(
    task: &temporalio_common::Priority,
    route: &tenant_core::routing::Route,
) -> Result<(), &'static str> {
    if task.fairness_key.as_deref() != Some(route.priority.fairness_key.as_str()) {
        return Err("fairness key");
    }
    // The route's weight is within [0.001, 1000]; the SDK carries it as `f32`, exactly as the
    // route's options set it.
    if task.fairness_weight != Some(route.priority.fairness_weight.get() as f32) {
        return Err("fairness weight");
    }
    if task.priority_key.is_some() {
        return Err("priority key");
    }
    Ok(())
}

/// Opens the input of a tenant activity. In this order: it decodes (a bare, unsigned claim does
/// not); its claim's signature verifies under an accepted key, it has not expired, and it is for
/// the verifier's audience; the task travelled on the route the signed claim gives (fairness
/// key, fairness weight, no priority key, task queue); the registry vouches for the tenant.
///
/// Reachable only as `tenant::__private::temporal::open_tenant_input`, for the code
/// `#[tenant::activities]` generates: it needs the `ActivityContext` of the running task, and it
/// gives a context only for a claim signed by a key of the verifier's ring.
#[doc(hidden)]
pub async fn open_tenant_input<T: TenantInput + Serialize + DeserializeOwned>(
    input: ActivityInput<T>,
    actx: &ActivityContext,
    verifier: &InputVerifier,
) -> Result<(T, TenantCtx), ActivityError> {
    let input: T = decoded(input, actx)?;
    let info = actx.info();
    let activity = || info.activity_type.clone();
    let refuse = |error: ActivityInputError| Err(error.into_activity_error());
    let claim = input.claim();
    // The signature before anything else: until it verifies, every other field is the
    // scheduler's word.
    if let Err(source) = claim.check(&verifier.keys, &verifier.audience, SystemTime::now()) {
        return refuse(ActivityInputError::Signature {
            activity: activity(),
            source,
        });
    }
    // The route next: it needs no registry round trip, and a misrouted task says nothing more.
    let route = verifier.routing.route_claim(claim, QueueKind::Activity);
    if let Err(what) = check_priority(&info.priority, &route) {
        return refuse(ActivityInputError::RouteMismatch {
            activity: activity(),
            what,
        });
    }
    if info.task_queue != route.task_queue {
        return refuse(ActivityInputError::RouteMismatch {
            activity: activity(),
            what: "task queue",
        });
    }
    let ctx = match verifier
        .registry
        .verify(&claim.claim(), &verifier.config)
        .await
    {
        Ok(ctx) => ctx,
        Err(source) => {
            return refuse(ActivityInputError::Claim {
                activity: activity(),
                source,
            });
        }
    };
    tracing::debug!(
        target: AUDIT_TARGET,
        tenant_id = ctx.tenant_id().as_str(),
        activity = %info.activity_type,
        key_id = claim.key_id(),
        "tenant activity started"
    );
    Ok((input, ctx))
}

/// Opens the input of a system activity, which carries no tenant: its system token must verify
/// under an accepted key, be unexpired, for the verifier's audience and for `reason` (the one
/// the macro checked), and the task must carry the [`SYSTEM_FAIRNESS_KEY`]. Then it builds the
/// audited [`SystemCtx`]. Reachable only through `tenant::__private`, as `open_tenant_input`.
#[doc(hidden)]
pub fn open_system_input<T: SystemInput + DeserializeOwned + Serialize>(
    input: ActivityInput<T>,
    actx: &ActivityContext,
    verifier: &InputVerifier,
    reason: &'static str,
) -> Result<(T, SystemCtx), ActivityError> {
    let input: T = decoded(input, actx)?;
    let info = actx.info();
    let token = input.token();
    if let Err(source) = token.check(
        &verifier.keys,
        &verifier.audience,
        reason,
        SystemTime::now(),
    ) {
        return Err(ActivityInputError::Signature {
            activity: info.activity_type.clone(),
            source,
        }
        .into_activity_error());
    }
    if info.priority.fairness_key.as_deref() != Some(SYSTEM_FAIRNESS_KEY) {
        return Err(ActivityInputError::RouteMismatch {
            activity: info.activity_type.clone(),
            what: "fairness key",
        }
        .into_activity_error());
    }
    let sys = SystemCtx::new(reason).map_err(|error| {
        ActivityInputError::SystemReason {
            activity: info.activity_type.clone(),
            reason: error.to_string(),
        }
        .into_activity_error()
    })?;
    Ok((input, sys))
}
