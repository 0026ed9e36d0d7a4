//! The Temporal Rust SDK side of tenant-carrying activities: `#[tenant::activities]`, the inputs
//! it generates and how the worker opens them, and routes turned into SDK options. Use it through
//! the `tenant` facade (feature `temporal`), which re-exports it as `tenant::temporal`.
//!
//! `#[tenant::activities]` wraps the SDK's own `#[activities]` impl-block macro. Each
//! `#[activity]` method in the block names its tenant context as a parameter right after the SDK's
//! `ActivityContext`; the macro generates `<Method>Input { ctx: TenantCtx, .. }` and hands the
//! SDK a method whose input is [`ActivityInput<<Method>Input>`](ActivityInput). The worker opens
//! that input before the body runs:
//!
//! - a payload whose context is missing or malformed, or that has a field the activity does not
//!   take, fails the activity with a **non-retryable** application failure of type
//!   [`INPUT_REJECTED`] whose message names the JSON path of the refused value (`ctx.tenant_id`,
//!   `target_version`): retrying a tampered payload cannot make it valid, and it never runs under
//!   a default or system context;
//! - a task whose priority names a fairness key that is not the context's tenant fails the same
//!   way: the route the task travelled on and the tenant it carries disagree.
//!
//! # Compatibility policy for other SDKs' payloads
//!
//! The wire format is JSON (the SDKs' default converter), keys in any order. Inside the context
//! (the [`TenantClaim`]), `schema_name` and `plan` may be `null` or absent and unknown fields are
//! **ignored without being trusted**: only `tenant_id` is used, after the registry vouched for
//! it, so a field a newer Python context adds cannot change what runs, and refusing it would stop
//! every Rust activity until the Rust side is redeployed. Outside the context, an unknown field
//! of an activity's input is **refused**: it is a parameter the activity would silently not
//! honour (a `dry_run` dropped on the floor), so the caller is told instead.
//!
//! On the calling side, [`RouteExt::activity_options`] and [`RouteExt::workflow_start_options`]
//! put the task
//! queue and the priority (fairness key = tenant, fairness weight = plan weight) on every activity
//! and workflow explicitly, rather than relying on inheritance.
//!
//! ```
//! use std::time::Duration;
//! use tenant::routing::{QueueKind, Routing};
//! use tenant::temporal::RouteExt;
//! use tenant::{Plan, TenantCtx};
//!
//! let ctx = TenantCtx::trusted("acme".parse()?, "tenant_acme".parse()?, Plan::Enterprise);
//! let routing = Routing::new("default", "provisioning", 4.try_into()?);
//! let route = routing.route(&ctx, QueueKind::Activity);
//! let options = route.activity_options(Duration::from_secs(30));
//! assert_eq!(options.task_queue.as_deref(), Some(route.task_queue.as_str()));
//! let priority = options.priority.expect("set explicitly");
//! assert_eq!(priority.fairness_key.as_deref(), Some("acme"));
//! assert_eq!(priority.fairness_weight, Some(10.0));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::time::Duration;

use serde::de::{DeserializeOwned, Deserializer};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};
use temporalio_common::error::ApplicationFailure;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

use std::sync::Arc;

use tenant_core::routing::{Priority, QueueKind, Route, Routing};
use tenant_core::{
    AUDIT_TARGET, ClaimError, SystemCtx, TenancyConfig, TenantClaim, TenantCtx, TenantRegistry,
};

/// What `#[tenant::activities]` expands to. Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::{TenantActivities, TenantInput, open_system_input, open_tenant_input};
    pub use temporalio_macros::activities;
}

/// Makes the `#[activity]` methods of an impl block activities of the Temporal Rust SDK that
/// cannot run without their tenant (feature `temporal`).
///
/// It wraps the SDK's own `#[activities]`: each method takes the SDK's `ActivityContext`, then
/// `ctx: TenantCtx` (or, with `#[activity(system = "reason")]`, a [`SystemCtx`] the worker
/// builds), then its parameters. `<Method>Input { ctx, .. }` is generated; it is what workflows
/// pass to `execute_activity`. On the wire its context is a [`TenantClaim`]. Before the body
/// runs, the worker decodes the input and checks it with the block's [`InputVerifier`] (the
/// block implements [`TenantActivities`], and a tenant activity takes `self: Arc<Self>`):
/// - the task's fairness key is present and is the claimed tenant;
/// - the registry vouches for the claim ([`TenantClaim::verify`]), which gives the context;
/// - with a verifier that has a [`Routing`], the task queue is that tenant's shard.
///
/// A system activity's task must carry the [`SYSTEM_FAIRNESS_KEY`]. A refusal fails the
/// activity with a **non-retryable** failure of type [`INPUT_REJECTED`] (retryable only when
/// the registry could not be read); the body never runs under a default or system context.
/// `#[activity(name = "..")]` is handed to the SDK.
///
/// The SDK's macros expand to `::temporalio_sdk`, `::temporalio_common` and `::futures`, so a
/// crate that uses this has those as direct dependencies.
///
/// ```
/// use std::sync::Arc;
/// use temporalio_sdk::activities::{ActivityContext, ActivityError};
/// use tenant::routing::Routing;
/// use tenant::temporal::{InputVerifier, TenantActivities};
/// use tenant::{InMemoryRegistry, Plan, SystemCtx, TenancyConfig, TenantClaim, TenantCtx};
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
/// #[tenant::activities]
/// impl Provisioning {
///     #[activity]
///     pub async fn run_migrations(
///         self: Arc<Self>,
///         _actx: ActivityContext,
///         ctx: TenantCtx,
///         version: u32,
///     ) -> Result<String, ActivityError> {
///         Ok(format!("{} at v{version}", ctx.schema_name()))
///     }
///
///     #[activity(system = "nightly cleanup of soft-deleted tenants")]
///     pub async fn cleanup(
///         _actx: ActivityContext,
///         sys: SystemCtx,
///         older_than_days: u32,
///     ) -> Result<String, ActivityError> {
///         Ok(format!("{}: {older_than_days} days", sys.reason()))
///     }
/// }
///
/// // Registered with a worker the SDK's way, with the registry that verifies its inputs:
/// let registry = InMemoryRegistry::from_ids(["acme".parse()?])?;
/// let routing = Routing::new("default", "provisioning", 4.try_into()?);
/// let verifier =
///     InputVerifier::new(Arc::new(registry), TenancyConfig::default()).with_routing(routing);
/// let options = temporalio_sdk::WorkerOptions::new("provisioning")
///     .register_activities(Provisioning { verifier })
///     .build();
/// # let _ = options;
///
/// // What a workflow passes: the context as a claim, which the worker verifies.
/// let ctx = TenantCtx::trusted("acme".parse()?, "tenant_acme".parse()?, Plan::Pro);
/// let input = RunMigrationsInput { ctx: TenantClaim::of(&ctx), version: 7 };
/// let json = serde_json::to_value(&input)?;
/// assert_eq!(json["ctx"]["tenant_id"], "acme");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub use tenant_macros::activities;

/// The application failure type of an activity input the worker refused to run.
pub const INPUT_REJECTED: &str = "tenant.ActivityInputRejected";

/// The fairness key of cross-tenant (system) work. `:` is outside the tenant id grammar, so no
/// tenant shares this key, and a tenant activity that arrives with it is refused.
pub const SYSTEM_FAIRNESS_KEY: &str = ":system";

/// Activity options for a system activity on `task_queue`, with the [`SYSTEM_FAIRNESS_KEY`] set
/// explicitly: without it, the activity would inherit, and be counted against, the fairness key
/// of whichever tenant's workflow scheduled it.
///
/// ```
/// use std::time::Duration;
/// use tenant::temporal::{SYSTEM_FAIRNESS_KEY, system_activity_options};
///
/// let options = system_activity_options("provisioning-system", Duration::from_secs(60));
/// assert_eq!(options.task_queue.as_deref(), Some("provisioning-system"));
/// assert_eq!(options.priority.unwrap().fairness_key.as_deref(), Some(SYSTEM_FAIRNESS_KEY));
/// ```
pub fn system_activity_options(
    task_queue: impl Into<String>,
    start_to_close: Duration,
) -> temporalio_sdk::ActivityOptions {
    activity_options(
        task_queue.into(),
        temporalio_common::Priority::builder()
            .fairness_key(SYSTEM_FAIRNESS_KEY)
            .build(),
        start_to_close,
    )
}

/// Options on `task_queue` with `priority`, both explicit.
fn activity_options(
    task_queue: String,
    priority: temporalio_common::Priority,
    start_to_close: Duration,
) -> temporalio_sdk::ActivityOptions {
    temporalio_sdk::ActivityOptions::with_start_to_close_timeout(start_to_close)
        .task_queue(task_queue)
        .priority(priority)
        .build()
}

/// The payload of a tenant-carrying activity as it crosses the engine.
///
/// Built from the generated `<Method>Input` (`execute_activity` takes anything that converts into
/// it, so workflow code passes the input itself). Decoding never fails at the SDK's payload
/// conversion, whose errors are retryable: any JSON value is accepted there and kept, and the
/// worker decodes it when it opens the input, turning a payload that does not decode into a
/// non-retryable [`INPUT_REJECTED`] failure.
///
/// ```
/// use tenant::temporal::ActivityInput;
///
/// struct Resize;
///
/// // Garbage and a tampered claim get past the SDK's converter; the worker refuses them.
/// for payload in [r#"[1,2]"#, r#"{"ctx":{"tenant_id":"acme'; --"},"pixels":3}"#, "null"] {
///     assert!(serde_json::from_str::<ActivityInput<Resize>>(payload).is_ok());
/// }
/// # Ok::<(), serde_json::Error>(())
/// ```
pub struct ActivityInput<T> {
    inner: Inner<T>,
}

enum Inner<T> {
    /// Built by a workflow from the typed input.
    Outgoing(T),
    /// Received by a worker: kept as JSON until the worker opens it, so that a payload that does
    /// not decode is a typed, non-retryable refusal and not a payload-conversion error the SDK
    /// would retry.
    Incoming(serde_json::Value),
}

impl<T> ActivityInput<T> {
    /// Decodes a received payload as `W` (the input's wire form), or says why it does not and
    /// where: the JSON path of the value that was refused.
    #[doc(hidden)]
    pub fn decode<W: DeserializeOwned>(self) -> Result<W, DecodeError>
    where
        T: Serialize,
    {
        let value = match self.inner {
            Inner::Incoming(value) => value,
            Inner::Outgoing(input) => serde_json::to_value(input).map_err(|e| DecodeError {
                path: ".".to_owned(),
                reason: e.to_string(),
            })?,
        };
        // An input is its fields by name. serde's derive would also read a struct from an array
        // of its fields in order, a second wire format that no other SDK writes.
        if !value.is_object() {
            return Err(DecodeError {
                path: ".".to_owned(),
                reason: format!("expected an object of named fields, found {}", kind(&value)),
            });
        }
        // `serde_path_to_error` tracks the keys and indexes the deserialiser is inside when it
        // fails; serde's own message says what was wrong but not where.
        serde_path_to_error::deserialize(value).map_err(|error| DecodeError {
            path: error.path().to_string(),
            reason: error.into_inner().to_string(),
        })
    }
}

/// The JSON type of `value`, for a refusal.
fn kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Why a received input did not decode, and where.
///
/// `path` is the JSON path of the value that was refused, as
/// [`serde_path_to_error`](https://docs.rs/serde_path_to_error) writes it: `ctx.tenant_id`,
/// `target_version`, `items[2]`, or `.` for the input as a whole (a missing field, or a payload
/// that is not an object).
///
/// ```
/// use tenant::temporal::ActivityInput;
/// use tenant::TenantClaim;
///
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct RunMigrationsInput {
///     ctx: TenantClaim,
///     target_version: u32,
/// }
///
/// let received: ActivityInput<RunMigrationsInput> =
///     serde_json::from_str(r#"{"ctx":{"tenant_id":"ACME"},"target_version":3}"#)?;
/// let error = received.decode::<RunMigrationsInput>().err().unwrap();
/// assert_eq!(error.path, "ctx.tenant_id");
/// assert_eq!(error.to_string(), format!("at `ctx.tenant_id`: {}", error.reason));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at `{path}`: {reason}")]
#[non_exhaustive]
pub struct DecodeError {
    /// The JSON path of the refused value.
    pub path: String,
    /// What was wrong with it: serde's message.
    pub reason: String,
}

impl<T> From<T> for ActivityInput<T> {
    fn from(input: T) -> Self {
        ActivityInput {
            inner: Inner::Outgoing(input),
        }
    }
}

impl<T> fmt::Debug for ActivityInput<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The payload may hold anything; the tenant shows up in the activity's own span.
        f.write_str("ActivityInput(..)")
    }
}

impl<T: Serialize> Serialize for ActivityInput<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match &self.inner {
            Inner::Outgoing(input) => input.serialize(serializer),
            Inner::Incoming(value) => value.serialize(serializer),
        }
    }
}

impl<'de, T> Deserialize<'de> for ActivityInput<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(ActivityInput {
            inner: Inner::Incoming(serde_json::Value::deserialize(deserializer)?),
        })
    }
}

/// A workflow's input as it crosses the engine, opened by the workflow itself.
///
/// The SDK decodes a workflow's input before the workflow runs, and a payload that does not
/// decode fails the workflow *task*, which the server retries for ever. Taking a
/// `WorkflowInput<T>` instead accepts any JSON there; [`open`](Self::open) then decodes it inside
/// the workflow, and a payload that does not decode (a missing or malformed tenant claim, an
/// unknown field) fails the workflow with a **non-retryable** [`INPUT_REJECTED`] failure. The
/// claim it carries is verified by the first activity the workflow schedules.
///
/// ```
/// use tenant::temporal::WorkflowInput;
/// use tenant::TenantClaim;
///
/// #[derive(serde::Serialize, serde::Deserialize)]
/// #[serde(deny_unknown_fields)]
/// struct Provision {
///     ctx: TenantClaim,
///     owner: String,
/// }
///
/// let sent = WorkflowInput::from(Provision { ctx: TenantClaim::new("acme".parse()?), owner: "o".into() });
/// let json = serde_json::to_string(&sent)?;
/// let received: WorkflowInput<Provision> = serde_json::from_str(&json)?;
/// assert_eq!(received.open()?.owner, "o");
///
/// let forged: WorkflowInput<Provision> = serde_json::from_str(r#"{"ctx":{"tenant_id":"ACME"},"owner":"o"}"#)?;
/// let Err(failure) = forged.open() else { panic!("a forged claim was opened") };
/// assert!(failure.is_non_retryable());
/// assert_eq!(failure.type_name(), Some(tenant::temporal::INPUT_REJECTED));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct WorkflowInput<T>(ActivityInput<T>);

impl<T: Serialize + DeserializeOwned> WorkflowInput<T> {
    /// The decoded input, or the non-retryable failure that ends the workflow (`?` converts it
    /// into the SDK's workflow termination).
    // The SDK converts an `ApplicationFailure` (not a box of one) into a workflow termination,
    // and this runs once per workflow: its size does not matter.
    #[allow(clippy::result_large_err)]
    pub fn open(self) -> Result<T, ApplicationFailure> {
        self.0.decode().map_err(|error| {
            tracing::warn!(target: AUDIT_TARGET, %error, "workflow input rejected");
            input_rejected(WorkflowInputRejected(error), false)
        })
    }
}

/// Why a workflow input was refused: its decode error, with the path of the refused value.
#[derive(Debug, thiserror::Error)]
#[error("workflow input rejected {0}")]
struct WorkflowInputRejected(DecodeError);

impl<T> From<T> for WorkflowInput<T> {
    fn from(input: T) -> Self {
        WorkflowInput(ActivityInput::from(input))
    }
}

impl<T> fmt::Debug for WorkflowInput<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WorkflowInput(..)")
    }
}

impl<T: Serialize> Serialize for WorkflowInput<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de, T> Deserialize<'de> for WorkflowInput<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        ActivityInput::deserialize(deserializer).map(WorkflowInput)
    }
}

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

/// The failure of an input the worker or the workflow refused: type [`INPUT_REJECTED`],
/// retryable only when `retryable` says a retry could change the answer.
fn input_rejected(
    error: impl std::error::Error + Send + Sync + 'static,
    retryable: bool,
) -> ApplicationFailure {
    ApplicationFailure::builder(error)
        .type_name(INPUT_REJECTED.to_owned())
        .non_retryable(!retryable)
        .build()
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

fn decoded<W: DeserializeOwned, T: Serialize>(
    input: ActivityInput<T>,
    actx: &ActivityContext,
) -> Result<W, ActivityError> {
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

/// The SDK's priority for a route's [`Priority`]: fairness key and weight.
///
/// ```
/// use tenant::routing::{FairnessKey, FairnessWeight, Priority};
///
/// let priority = Priority {
///     fairness_key: FairnessKey::for_tenant(&"acme".parse()?),
///     fairness_weight: FairnessWeight::new(3.0)?,
/// };
/// let sdk = tenant::temporal::sdk_priority(&priority);
/// assert_eq!(sdk.fairness_key.as_deref(), Some("acme"));
/// assert_eq!(sdk.fairness_weight, Some(3.0));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn sdk_priority(priority: &Priority) -> temporalio_common::Priority {
    temporalio_common::Priority::builder()
        .fairness_key(priority.fairness_key.as_str())
        // Within [0.001, 1000] by construction, which f32 represents closely enough.
        .fairness_weight(priority.fairness_weight.get() as f32)
        .build()
}

/// A [`Route`] as Temporal SDK options: the task queue and the priority, set explicitly.
pub trait RouteExt {
    /// Activity options that schedule on this route's task queue with its priority, both set
    /// explicitly: an activity that merely inherits its workflow's priority carries none.
    fn activity_options(&self, start_to_close: Duration) -> temporalio_sdk::ActivityOptions;

    /// Options that start a workflow on this route's task queue with its priority.
    ///
    /// ```
    /// use tenant::routing::{QueueKind, Routing};
    /// use tenant::temporal::RouteExt;
    /// use tenant::{Plan, TenantCtx};
    ///
    /// let ctx = TenantCtx::trusted("acme".parse()?, "tenant_acme".parse()?, Plan::Free);
    /// let routing = Routing::new("default", "provisioning", 4.try_into()?);
    /// let route = routing.route(&ctx, QueueKind::Workflow);
    /// let options = route.workflow_start_options("provision-acme");
    /// assert_eq!(options.task_queue, route.task_queue);
    /// assert_eq!(options.priority.fairness_key.as_deref(), Some("acme"));
    /// assert_eq!(options.priority.fairness_weight, Some(1.0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn workflow_start_options(
        &self,
        workflow_id: impl Into<String>,
    ) -> temporalio_client::WorkflowStartOptions;
}

impl RouteExt for Route {
    fn activity_options(&self, start_to_close: Duration) -> temporalio_sdk::ActivityOptions {
        activity_options(
            self.task_queue.clone(),
            sdk_priority(&self.priority),
            start_to_close,
        )
    }

    fn workflow_start_options(
        &self,
        workflow_id: impl Into<String>,
    ) -> temporalio_client::WorkflowStartOptions {
        temporalio_client::WorkflowStartOptions::new(self.task_queue.clone(), workflow_id.into())
            .priority(sdk_priority(&self.priority))
            .build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The wire form of the seeds' `RunMigrationsInput(ctx=TenantCtx(..), target_version=3)`, as
    /// `#[tenant::activities]` generates it.
    #[derive(Debug, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct RunMigrationsInput {
        ctx: TenantClaim,
        target_version: u32,
    }

    fn decode(json: &str) -> Result<RunMigrationsInput, DecodeError> {
        serde_json::from_str::<ActivityInput<RunMigrationsInput>>(json)
            .expect("any JSON gets past the SDK's converter")
            .decode()
    }

    #[test]
    fn the_seeds_payloads_decode() {
        for seeds in [
            // `TenantCtx(plan=None)` through the Python SDK: sorted keys, `null` plan.
            r#"{"ctx":{"plan":null,"schema_name":"tenant_acme","tenant_id":"acme"},"target_version":3}"#,
            r#"{"target_version":3,"ctx":{"tenant_id":"acme"}}"#,
            r#"{"ctx":{"plan":"platinum","schema_name":"tenant_acme","tenant_id":"acme"},"target_version":3}"#,
            // A newer context with a field ours lacks: ignored (see the module's policy).
            r#"{"ctx":{"plan":"pro","region":"eu","schema_name":"tenant_acme","tenant_id":"acme"},"target_version":3}"#,
        ] {
            let input = decode(seeds).unwrap_or_else(|e| panic!("{seeds}: {e}"));
            assert_eq!(input.ctx.tenant_id().as_str(), "acme");
            assert_eq!(input.target_version, 3);
        }
    }

    #[test]
    fn rejections_name_the_path_of_the_bad_value() {
        for (payload, path, says) in [
            (
                r#"{"ctx":{"tenant_id":"ACME"},"target_version":3}"#,
                "ctx.tenant_id",
                "tenant id",
            ),
            (
                r#"{"ctx":{"tenant_id":"acme'; --"},"target_version":3}"#,
                "ctx.tenant_id",
                "tenant id",
            ),
            (
                r#"{"ctx":{"tenant_id":"acme","plan":42},"target_version":3}"#,
                "ctx.plan",
                "invalid type",
            ),
            (
                r#"{"ctx":{"tenant_id":"acme","schema_name":"public"},"target_version":3}"#,
                "ctx.schema_name",
                "schema",
            ),
            (
                r#"{"ctx":{"tenant_id":"acme"},"target_version":"three"}"#,
                "target_version",
                "invalid type",
            ),
            (
                r#"{"ctx":{"tenant_id":"acme"},"target_version":-1}"#,
                "target_version",
                "invalid value",
            ),
            (
                r#"{"ctx":{"tenant_id":"acme"},"target_version":3,"dry_run":true}"#,
                "dry_run",
                "unknown field `dry_run`",
            ),
            (r#"{"ctx":null,"target_version":3}"#, "ctx", "invalid type"),
            (
                r#"{"ctx":{"schema_name":"tenant_acme"},"target_version":3}"#,
                "ctx",
                "missing field `tenant_id`",
            ),
            (r#"{"target_version":3}"#, ".", "missing field `ctx`"),
            (r#""garbage""#, ".", "found a string"),
            // Not the fields by position either, as serde's derive alone would read them.
            (r#"["ACME",3]"#, ".", "found an array"),
        ] {
            let error = decode(payload).expect_err(payload);
            assert_eq!(error.path, path, "{payload}: {error}");
            assert!(error.reason.contains(says), "{payload}: {error}");
            // The failure the worker returns says where, in its message.
            let failure = ActivityInputError::Malformed {
                activity: "run_migrations".into(),
                error: error.clone(),
            };
            let message = failure.to_string();
            assert!(message.contains(&format!("at `{path}`")), "{message}");
            let application = input_rejected(failure, false);
            assert_eq!(application.type_name(), Some(INPUT_REJECTED));
            assert!(application.is_non_retryable());
            assert_eq!(application.source_error().to_string(), message);
        }
    }

    /// Found by fuzzing: serde's derive read the input, and the claim in it, from arrays of
    /// their fields in order (`[["acme", null, null], 3]`).
    #[test]
    fn inputs_and_claims_written_as_arrays_are_refused() {
        for (payload, path) in [
            (r#"[{"tenant_id":"acme"},3]"#, "."),
            (r#"{"ctx":["acme",null,null],"target_version":3}"#, "ctx"),
            (r#"[["acme",null,null],3]"#, "."),
        ] {
            let input: ActivityInput<RunMigrationsInput> = serde_json::from_str(payload).unwrap();
            let error = input.decode::<RunMigrationsInput>().expect_err(payload);
            assert_eq!(error.path, path, "{payload}: {error}");
            assert!(error.reason.contains("object"), "{payload}: {error}");
        }
    }

    #[test]
    fn a_workflow_input_rejection_names_the_path_too() {
        let input: WorkflowInput<RunMigrationsInput> =
            serde_json::from_str(r#"{"ctx":{"tenant_id":"acme"},"target_version":null}"#).unwrap();
        let failure = input.open().expect_err("a null version");
        assert!(failure.is_non_retryable());
        assert!(
            failure
                .source_error()
                .to_string()
                .contains("at `target_version`"),
            "{}",
            failure.source_error()
        );
    }
}
