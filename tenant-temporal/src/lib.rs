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
//! Other SDKs' payloads (a Python worker's context, with fields this crate does not know) follow
//! the compatibility policy under [Python workers next to Rust ones](#python-workers-next-to-rust-ones).
//!
//! On the calling side, [`RouteExt::activity_options`] and [`RouteExt::workflow_start_options`]
//! put the task queue and the priority (fairness key = tenant, fairness weight = plan weight) on
//! every activity and workflow explicitly, rather than relying on inheritance.
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
#![doc = include_str!("docs/activities.md")]
#![doc = include_str!("docs/interop.md")]

mod input;
mod options;
mod verify;

pub use input::{ActivityInput, DecodeError, INPUT_REJECTED, WorkflowInput};
pub use options::{RouteExt, SYSTEM_FAIRNESS_KEY, sdk_priority, system_activity_options};
pub use verify::{ActivityInputError, InputVerifier, TenantActivities};
#[doc(hidden)]
pub use verify::{TenantInput, open_system_input, open_tenant_input};

#[cfg(doc)]
use tenant_core::{SystemCtx, TenantClaim, routing::Routing};

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

#[cfg(test)]
mod tests;
