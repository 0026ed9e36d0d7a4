//! The worker's side: an activity input opened, its claim verified by the registry and its task
//! checked against the tenant's route, before the body runs.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use tenant_core::routing::{QueueKind, Routing};
use tenant_core::{
    AUDIT_TARGET, ClaimError, SystemCtx, TenancyConfig, TenantClaim, TenantCtx, TenantRegistry,
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
    /// The registry did not vouch for the claimed tenant.
    #[error("activity `{activity}`: {source}")]
    Claim {
        /// The activity type.
        activity: String,
        /// Why the claim was refused.
        #[source]
        source: ClaimError,
    },
    /// The task did not travel on the claimed tenant's route: no fairness key or another one,
    /// or another task queue than the tenant's shard.
    #[error("activity `{activity}`: the task's {what} is not the claimed tenant's route")]
    RouteMismatch {
        /// The activity type.
        activity: String,
        /// What differed: `"fairness key"` or `"task queue"`.
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

/// A generated `<Method>Input` of a tenant activity: the claim it carries. Not a public API.
#[doc(hidden)]
pub trait TenantInput {
    /// The claim the payload makes.
    fn claim(&self) -> &TenantClaim;
}

/// What a worker checks every tenant activity input against: the registry and tenancy
/// configuration that turn a claim into a [`TenantCtx`], and the routing its workflows schedule
/// with, so that a task on another tenant's route, or on none, is refused.
///
/// ```
/// use std::sync::Arc;
/// use tenant::routing::{QueueKind, Routing};
/// use tenant::temporal::{InputVerifier, TenantActivities};
/// use tenant::{InMemoryRegistry, Plan, PlanWeights, TenancyConfig, TenantCtx};
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
/// let registry = InMemoryRegistry::from_ids(["acme".parse()?, "globex".parse()?])?;
/// let verifier = InputVerifier::new(Arc::new(registry), TenancyConfig::default())
///     .with_routing(routing.clone());
/// assert_eq!(verifier.routing(), Some(&routing));
/// let _activities = Provisioning { verifier };
///
/// // A workflow schedules with the same value: the task queue the verifier expects.
/// let ctx = TenantCtx::trusted("acme".parse()?, "tenant_acme".parse()?, Plan::Pro);
/// let route = routing.route(&ctx, QueueKind::Activity);
/// assert!(route.task_queue.starts_with("provisioning-activity-"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct InputVerifier {
    registry: Arc<dyn VerifyClaims>,
    config: TenancyConfig,
    routing: Option<Routing>,
}

impl InputVerifier {
    /// Verifies claims against `registry` and `config` (its allow-list). Without
    /// [`with_routing`](Self::with_routing), the task queue is not checked; the fairness key
    /// always is.
    pub fn new<R: TenantRegistry + 'static>(registry: Arc<R>, config: TenancyConfig) -> Self {
        InputVerifier {
            registry: registry as Arc<dyn VerifyClaims>,
            config,
            routing: None,
        }
    }

    /// Also checks that each task arrived on the activity queue that
    /// [`routing.route(ctx, QueueKind::Activity)`](Routing::route) gives the verified tenant:
    /// pass the [`Routing`] the workflows schedule with.
    pub fn with_routing(mut self, routing: Routing) -> Self {
        self.routing = Some(routing);
        self
    }

    /// The routing tasks are checked against, if any.
    pub fn routing(&self) -> Option<&Routing> {
        self.routing.as_ref()
    }
}

impl fmt::Debug for InputVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InputVerifier")
            .field("config", &self.config)
            .field("routing", &self.routing)
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

/// Opens the input of a tenant activity: decoded, its claim verified by the registry, and its
/// task routed for that tenant (fairness key, and task queue when the verifier has a routing).
#[doc(hidden)]
pub async fn open_tenant_input<T: TenantInput + Serialize + DeserializeOwned>(
    input: ActivityInput<T>,
    actx: &ActivityContext,
    verifier: &InputVerifier,
) -> Result<(T, TenantCtx), ActivityError> {
    let input: T = decoded(input, actx)?;
    let info = actx.info();
    let refuse = |error: ActivityInputError| Err(error.into_activity_error());
    let claim = input.claim();
    // The route first: it needs no registry round trip, and a misrouted task says nothing more.
    if info.priority.fairness_key.as_deref() != Some(claim.tenant_id().as_str()) {
        return refuse(ActivityInputError::RouteMismatch {
            activity: info.activity_type.clone(),
            what: "fairness key",
        });
    }
    let ctx = match verifier.registry.verify(claim, &verifier.config).await {
        Ok(ctx) => ctx,
        Err(source) => {
            return refuse(ActivityInputError::Claim {
                activity: info.activity_type.clone(),
                source,
            });
        }
    };
    if let Some(routing) = &verifier.routing {
        let route = routing.route(&ctx, QueueKind::Activity);
        if info.task_queue != route.task_queue {
            return refuse(ActivityInputError::RouteMismatch {
                activity: info.activity_type.clone(),
                what: "task queue",
            });
        }
    }
    tracing::debug!(
        target: AUDIT_TARGET,
        tenant_id = ctx.tenant_id().as_str(),
        activity = %info.activity_type,
        "tenant activity started"
    );
    Ok((input, ctx))
}

/// Opens the input of a system activity, which carries no tenant and must arrive with the
/// [`SYSTEM_FAIRNESS_KEY`], and builds its audited [`SystemCtx`] with the reason the macro
/// checked.
#[doc(hidden)]
pub fn open_system_input<T: DeserializeOwned + Serialize>(
    input: ActivityInput<T>,
    actx: &ActivityContext,
    reason: &'static str,
) -> Result<(T, SystemCtx), ActivityError> {
    let input: T = decoded(input, actx)?;
    let info = actx.info();
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
