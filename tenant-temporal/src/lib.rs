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
//! - a payload whose context is missing, malformed or carries unknown fields fails the activity
//!   with a **non-retryable** application failure of type [`INPUT_REJECTED`]: retrying a
//!   tampered payload cannot make it valid, and it never runs under a default or system context;
//! - a task whose priority names a fairness key that is not the context's tenant fails the same
//!   way: the route the task travelled on and the tenant it carries disagree.
//!
//! On the calling side, [`RouteExt::activity_options`] and [`RouteExt::workflow_start_options`]
//! put the task
//! queue and the priority (fairness key = tenant, fairness weight = plan weight) on every activity
//! and workflow explicitly, rather than relying on inheritance.
//!
//! ```
//! use std::time::Duration;
//! use tenant::routing::{QueueKind, route_for_tenant};
//! use tenant::temporal::RouteExt;
//! use tenant::{Plan, TenantCtx};
//!
//! let ctx = TenantCtx::trusted("acme".parse()?, "tenant_acme".parse()?, Plan::Enterprise);
//! let route = route_for_tenant(&ctx, "default", "provisioning", 4.try_into()?, QueueKind::Activity);
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
use serde::ser::{Error as _, Serializer};
use serde::{Deserialize, Serialize};
use temporalio_common::error::ApplicationFailure;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

use tenant_core::routing::{Priority, Route};
use tenant_core::{AUDIT_TARGET, SystemCtx, TenantCtx};

/// What `#[tenant::activities]` expands to. Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::{CarriesTenant, open_system_input, open_tenant_input};
    pub use temporalio_macros::activities;
}

/// Makes the `#[activity]` methods of an impl block activities of the Temporal Rust SDK that
/// cannot run without their tenant (feature `temporal`).
///
/// It wraps the SDK's own `#[activities]`: each method takes the SDK's `ActivityContext`, then
/// `ctx: TenantCtx` (or, with `#[activity(system = "reason")]`, a [`SystemCtx`] the worker
/// builds), then its parameters. `<Method>Input { ctx, .. }` is generated; it is what workflows
/// pass to `execute_activity`, and what crosses the engine. Before the body runs, the worker
/// decodes it and checks that the task's fairness key, when set, is the context's tenant. A
/// payload with a missing, malformed or tampered context fails the activity with a
/// **non-retryable** failure of type [`INPUT_REJECTED`]; it never runs under a default
/// or system context. `#[activity(name = "..")]` is handed to the SDK.
///
/// The SDK's macros expand to `::temporalio_sdk`, `::temporalio_common` and `::futures`, so a
/// crate that uses this has those as direct dependencies.
///
/// ```
/// use std::sync::Arc;
/// use temporalio_sdk::activities::{ActivityContext, ActivityError};
/// use tenant::{Plan, SystemCtx, TenantCtx};
///
/// pub struct Provisioning;
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
/// // Registered with a worker the SDK's way:
/// let options = temporalio_sdk::WorkerOptions::new("provisioning")
///     .register_activities(Provisioning)
///     .build();
/// # let _ = options;
///
/// // What a workflow passes, and what crosses the engine:
/// let ctx = TenantCtx::trusted("acme".parse()?, "tenant_acme".parse()?, Plan::Pro);
/// let input = RunMigrationsInput { ctx, version: 7 };
/// let json = serde_json::to_string(&input)?;
/// let received: tenant::temporal::ActivityInput<RunMigrationsInput> = serde_json::from_str(&json)?;
/// assert!(received.rejection().is_none());
///
/// // A tampered context arrives as a rejection the worker fails without retrying.
/// let tampered = json.replace("\"acme\"", "\"acme/../beta\"");
/// let received: tenant::temporal::ActivityInput<RunMigrationsInput> = serde_json::from_str(&tampered)?;
/// assert!(received.rejection().is_some());
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
/// conversion, whose errors are retryable; a payload that does not decode is kept as a rejection
/// and the worker turns it into a non-retryable [`INPUT_REJECTED`] failure.
///
/// ```
/// use tenant::temporal::ActivityInput;
///
/// #[derive(serde::Serialize, serde::Deserialize)]
/// #[serde(deny_unknown_fields)]
/// struct Resize {
///     ctx: tenant::TenantCtx,
///     pixels: u32,
/// }
///
/// // A tampered context decodes into a rejection, not into an error of the SDK's converter.
/// let tampered = r#"{"ctx":{"tenant_id":"acme'; --","schema_name":"s","plan":"free"},"pixels":3}"#;
/// let input: ActivityInput<Resize> = serde_json::from_str(tampered)?;
/// assert!(input.rejection().unwrap().contains("tenant id"));
///
/// let missing: ActivityInput<Resize> = serde_json::from_str(r#"{"pixels":3}"#)?;
/// assert!(missing.rejection().unwrap().contains("missing field `ctx`"));
/// # Ok::<(), serde_json::Error>(())
/// ```
pub struct ActivityInput<T> {
    decoded: Result<T, String>,
}

impl<T> ActivityInput<T> {
    /// Why this payload was refused, if it was.
    pub fn rejection(&self) -> Option<&str> {
        self.decoded.as_ref().err().map(String::as_str)
    }
}

impl<T> From<T> for ActivityInput<T> {
    fn from(input: T) -> Self {
        ActivityInput { decoded: Ok(input) }
    }
}

impl<T> fmt::Debug for ActivityInput<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The payload may hold anything; the tenant shows up in the activity's own span.
        match &self.decoded {
            Ok(_) => f.write_str("ActivityInput(..)"),
            Err(reason) => f
                .debug_tuple("ActivityInput::Rejected")
                .field(reason)
                .finish(),
        }
    }
}

impl<T: Serialize> Serialize for ActivityInput<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match &self.decoded {
            Ok(input) => input.serialize(serializer),
            Err(_) => Err(S::Error::custom(
                "a rejected activity input is never sent on",
            )),
        }
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for ActivityInput<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Buffer first: a typed decode error must reach the worker as a value, not as a failed
        // payload conversion that the SDK would report as retryable.
        let value = serde_json::Value::deserialize(deserializer)?;
        Ok(ActivityInput {
            decoded: serde_json::from_value(value).map_err(|e| e.to_string()),
        })
    }
}

/// Why the worker refused an activity input.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ActivityInputError {
    /// The payload did not decode into the activity's input: its tenant context is missing,
    /// malformed or has fields no context has.
    #[error("activity `{activity}`: input rejected: {reason}")]
    Malformed {
        /// The activity type.
        activity: String,
        /// The decode error.
        reason: String,
    },
    /// The task's fairness key is not the tenant of the context it carries.
    #[error(
        "activity `{activity}`: the task was routed with another tenant's fairness key than the \
         tenant context it carries"
    )]
    RouteMismatch {
        /// The activity type.
        activity: String,
    },
}

impl ActivityInputError {
    fn into_activity_error(self) -> ActivityError {
        tracing::warn!(target: AUDIT_TARGET, error = %self, "activity input rejected");
        ActivityError::application(
            ApplicationFailure::builder(self)
                .type_name(INPUT_REJECTED.to_owned())
                .non_retryable(true)
                .build(),
        )
    }
}

/// Generated inputs that carry a tenant context. Not a public API.
#[doc(hidden)]
pub trait CarriesTenant {
    fn tenant_ctx(&self) -> &TenantCtx;
}

fn decoded<T>(input: ActivityInput<T>, actx: &ActivityContext) -> Result<T, ActivityError> {
    input.decoded.map_err(|reason| {
        ActivityInputError::Malformed {
            activity: actx.info().activity_type.clone(),
            reason,
        }
        .into_activity_error()
    })
}

/// Opens the input of a tenant activity: decoded, and routed for the tenant it carries.
#[doc(hidden)]
pub fn open_tenant_input<T: CarriesTenant>(
    input: ActivityInput<T>,
    actx: &ActivityContext,
) -> Result<T, ActivityError> {
    let input = decoded(input, actx)?;
    let info = actx.info();
    let tenant = input.tenant_ctx().tenant_id().as_str();
    if let Some(key) = info.priority.fairness_key.as_deref()
        && !key.is_empty()
        && key != tenant
    {
        return Err(ActivityInputError::RouteMismatch {
            activity: info.activity_type.clone(),
        }
        .into_activity_error());
    }
    tracing::debug!(
        target: AUDIT_TARGET,
        tenant_id = tenant,
        activity = %info.activity_type,
        "tenant activity started"
    );
    Ok(input)
}

/// Opens the input of a system activity, which carries no tenant, and builds its audited
/// [`SystemCtx`] with the reason the macro checked.
#[doc(hidden)]
pub fn open_system_input<T>(
    input: ActivityInput<T>,
    actx: &ActivityContext,
    reason: &'static str,
) -> Result<(T, SystemCtx), ActivityError> {
    let input = decoded(input, actx)?;
    let sys = SystemCtx::new(reason).map_err(|error| {
        ActivityInputError::Malformed {
            activity: actx.info().activity_type.clone(),
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
    /// use tenant::routing::{QueueKind, route_for_tenant};
    /// use tenant::temporal::RouteExt;
    /// use tenant::{Plan, TenantCtx};
    ///
    /// let ctx = TenantCtx::trusted("acme".parse()?, "tenant_acme".parse()?, Plan::Free);
    /// let route = route_for_tenant(&ctx, "default", "provisioning", 4.try_into()?, QueueKind::Workflow);
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
