//! The Temporal Rust SDK side of tenant-carrying activities: `#[tenant::activities]`, the inputs
//! it generates and how the worker opens them, and routes turned into SDK options. Use it through
//! the `tenant` facade (feature `temporal`), which re-exports it as `tenant::temporal`.
//!
//! `#[tenant::activities]` wraps the SDK's own `#[activities]` impl-block macro. Each
//! `#[activity]` method in the block names its tenant context as a parameter right after the SDK's
//! `ActivityContext`; the macro generates `<Method>Input { ctx: SignedClaim, .. }` and hands the
//! SDK a method whose input is [`ActivityInput<<Method>Input>`](ActivityInput). The worker opens
//! that input before the body runs:
//!
//! - a payload whose claim is missing, malformed or unsigned (a bare `TenantClaim`), or that has
//!   a field the activity does not take, fails the activity with a **non-retryable** application
//!   failure of type [`INPUT_REJECTED`] whose message names the JSON path of the refused value
//!   (`ctx.tenant_id`, `target_version`): retrying a tampered payload cannot make it valid, and
//!   it never runs under a default or system context;
//! - a claim whose signature does not verify under the worker's keys, that has expired, or that
//!   was signed for another namespace or task-queue prefix fails the same way, before anything
//!   else is looked at;
//! - so does a task whose route is not the one the signed claim gives: another fairness key or
//!   fairness weight than the tenant's and its signed plan's, a priority key, another queue.
//!
//! # Signed claims and long-running workflows
//!
//! Claims are minted by a holder of a claim-signing key ([`SignedClaim::sign`] from a verified
//! context: the request boundary, or the code that starts the workflow), with a lifetime, and the
//! worker refuses an expired one (after a leeway of
//! [`CLOCK_SKEW_LEEWAY`](tenant_core::signed::CLOCK_SKEW_LEEWAY)). A workflow must therefore
//! finish its tenant activities within its claim's lifetime, or get a fresh claim: the choice
//! here is to **sign a lifetime that covers the workflow's run**, picked per workflow by its
//! starter (the examples use an hour for provisioning), and for work that runs for days, to have
//! the workflow call a *signing activity* on a worker that holds the key, which verifies the old
//! claim with the registry and returns a fresh one (a workflow cannot sign itself: its code must
//! stay deterministic and holds no key). Long lifetimes cost little: a claim names one tenant,
//! one audience and one plan, and a deactivated tenant is refused by the registry whatever its
//! claim says; what a lifetime bounds is how long a changed plan keeps its old fairness weight
//! and how long a claim outlives the rotation of the key that signed it.
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

#[cfg(doc)]
use tenant_core::{SignedClaim, SystemCtx, SystemToken, routing::Routing};

/// What `#[tenant::activities]` expands to. Not a public API: the openers are reachable here
/// only, for the generated code, and not from the crate's root.
#[doc(hidden)]
pub mod __private {
    pub use crate::TenantActivities;
    pub use crate::verify::{SystemInput, TenantInput, open_system_input, open_tenant_input};
    pub use temporalio_macros::activities;
}

/// Makes the `#[activity]` methods of an impl block activities of the Temporal Rust SDK that
/// cannot run without their tenant (feature `temporal`).
///
/// It wraps the SDK's own `#[activities]`: each method takes the SDK's `ActivityContext`, then
/// `ctx: TenantCtx` (or, with `#[activity(system = "reason")]`, a [`SystemCtx`] the worker
/// builds), then its parameters. `<Method>Input { ctx, .. }` is generated; it is what workflows
/// pass to `execute_activity`. On the wire its context is a [`SignedClaim`]. Before the body
/// runs, the worker decodes the input and checks it with the block's [`InputVerifier`] (the
/// block implements [`TenantActivities`], and every activity takes `self: Arc<Self>`):
/// - the claim's signature verifies under an accepted key, it has not expired, and its audience
///   is the verifier's [`Routing`]'s;
/// - the task's fairness key is the claimed tenant, its fairness weight is the weight of the
///   signed plan, it has no priority key, and its task queue is that tenant's shard;
/// - the registry vouches for the claim, which gives the context.
///
/// A system activity's input is `<Method>Input { sys: SystemToken, .. }`: the [`SystemToken`]
/// must verify the same way and name the activity's reason, and its task must carry the
/// [`SYSTEM_FAIRNESS_KEY`]. A refusal fails the
/// activity with a **non-retryable** failure of type [`INPUT_REJECTED`] (retryable only when
/// the registry could not be read); the body never runs under a default or system context.
/// `#[activity(name = "..")]` is handed to the SDK.
///
/// The SDK's macros expand to `::temporalio_sdk`, `::temporalio_common` and `::futures`, so a
/// crate that uses this has those as direct dependencies.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use temporalio_sdk::activities::{ActivityContext, ActivityError};
/// use tenant::routing::Routing;
/// use tenant::temporal::{InputVerifier, TenantActivities};
/// use tenant::{InMemoryRegistry, Plan, SignedClaim, SigningKeys, SystemCtx, TenancyConfig, TenantCtx};
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
///         self: Arc<Self>,
///         _actx: ActivityContext,
///         sys: SystemCtx,
///         older_than_days: u32,
///     ) -> Result<String, ActivityError> {
///         Ok(format!("{}: {older_than_days} days", sys.reason()))
///     }
/// }
///
/// // Registered with a worker the SDK's way, with the keys, routing and registry that verify
/// // its inputs:
/// let keys: SigningKeys = "claims1:tlL9C3QBIVlBWxotkSiN2fBkFH9h2Y3eQ+jLNdhOimU=".parse()?;
/// let registry = InMemoryRegistry::from_ids(["acme".parse()?])?;
/// let routing = Routing::new("default", "provisioning", 4.try_into()?);
/// let verifier = InputVerifier::new(
///     Arc::new(registry),
///     TenancyConfig::default(),
///     routing.clone(),
///     keys.clone(),
/// );
/// let options = temporalio_sdk::WorkerOptions::new("provisioning")
///     .register_activities(Provisioning { verifier })
///     .build();
/// # let _ = options;
///
/// // What a workflow passes: a claim the starter signed from a verified context.
/// let ctx = TenantCtx::trusted("acme".parse()?, "tenant_acme".parse()?, Plan::Pro);
/// let claim = SignedClaim::sign(&ctx, &keys, &routing.audience(), Duration::from_secs(3600))?;
/// let input = RunMigrationsInput { ctx: claim, version: 7 };
/// let json = serde_json::to_value(&input)?;
/// assert_eq!(json["ctx"]["tenant_id"], "acme");
/// assert_eq!(json["ctx"]["key_id"], "claims1");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub use tenant_macros::activities;

#[cfg(test)]
mod tests;
