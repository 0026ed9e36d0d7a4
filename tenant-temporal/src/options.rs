//! Routes as SDK options: the task queue and the priority set explicitly on every activity and
//! workflow, and the system fairness key of cross-tenant work.

use std::time::Duration;

use tenant_core::routing::{Priority, Route};

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
