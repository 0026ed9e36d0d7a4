//! The fleet of workers a workflow belongs to, and the routes of its tenants' work.

use temporalio_common::error::ApplicationFailure;
use temporalio_sdk::WorkflowContext;
use tenant::routing::{QueueKind, Route, Routing, task_queue_name};
use tenant::{SignedClaim, TenantCtx};

use crate::{NAMESPACE, QUEUE_PREFIX, SHARDS};

/// A worker fleet: its [`Routing`], whose prefix names the task queues it polls
/// (`{prefix}-{kind}-{shard}`, and `{prefix}-system`). Two fleets on one namespace (another
/// environment, a test) with different prefixes never take each other's tasks. Workflows find
/// their fleet from their own task queue ([`Fleet::of_workflow_queue`]), so their activities
/// stay in it, and the fleet's workers verify tasks against the same routing.
#[derive(Debug, Clone, PartialEq)]
pub struct Fleet {
    routing: Routing,
}

impl Default for Fleet {
    /// The example's fleet, on [`QUEUE_PREFIX`].
    fn default() -> Self {
        Fleet::new(QUEUE_PREFIX)
    }
}

impl Fleet {
    /// The fleet on the task queues `{prefix}-..` of [`NAMESPACE`], over [`SHARDS`] shards.
    pub fn new(prefix: impl Into<String>) -> Self {
        Fleet {
            routing: Routing::new(NAMESPACE, prefix, SHARDS),
        }
    }

    /// The prefix of the fleet's task queues.
    pub fn prefix(&self) -> &str {
        self.routing.prefix()
    }

    /// How the fleet's work is routed, and what its workers verify tasks against.
    pub fn routing(&self) -> &Routing {
        &self.routing
    }

    /// Where the provisioning workflow of `ctx` runs.
    pub fn workflow_route(&self, ctx: &TenantCtx) -> Route {
        self.routing.route(ctx, QueueKind::Workflow)
    }

    /// Where the activities of a claimed tenant run: workflow code holds signed claims, never
    /// contexts, and the weight is the signed plan's.
    pub fn activity_route(&self, claim: &SignedClaim) -> Route {
        self.routing.route_claim(claim, QueueKind::Activity)
    }

    /// The queue of cross-tenant (system) work, which has no tenant to route by.
    pub fn system_queue(&self) -> String {
        format!("{}-system", self.prefix())
    }

    /// Every task queue the fleet polls.
    pub fn all_task_queues(&self) -> Vec<String> {
        let mut queues = Vec::new();
        for kind in [QueueKind::Workflow, QueueKind::Activity] {
            for shard in 0..SHARDS.get() {
                queues.push(task_queue_name(self.prefix(), kind, shard));
            }
        }
        queues.push(self.system_queue());
        queues
    }

    /// The fleet one of whose workflow queues is `task_queue`, or `None` when it is no fleet's.
    pub fn of_workflow_queue(task_queue: &str) -> Option<Fleet> {
        let (rest, shard) = task_queue.rsplit_once('-')?;
        let prefix = rest
            .strip_suffix(QueueKind::Workflow.as_str())?
            .strip_suffix('-')
            .filter(|prefix| !prefix.is_empty())?;
        let fleet = Fleet::new(prefix);
        // Only the exact name the fleet would give: no leading zeros, no shard out of range.
        let shard: u32 = shard.parse().ok()?;
        (shard < SHARDS.get() && task_queue_name(prefix, QueueKind::Workflow, shard) == task_queue)
            .then_some(fleet)
    }

    /// The fleet running `wf`, whose activities it schedules. A workflow started on a queue
    /// that is no fleet's fails for good: it has nowhere safe to route its tenant's work.
    // The SDK converts an `ApplicationFailure` (not a box of one) into a workflow termination.
    #[allow(clippy::result_large_err)]
    pub(crate) fn of_workflow<W>(wf: &WorkflowContext<W>) -> Result<Fleet, ApplicationFailure> {
        Fleet::of_workflow_queue(wf.task_queue()).ok_or_else(|| {
            ApplicationFailure::non_retryable(format!(
                "task queue `{}` is not a provisioning fleet's workflow queue",
                wf.task_queue()
            ))
        })
    }
}

/// Where the provisioning workflow of `ctx` runs, in the example's fleet.
pub fn workflow_route(ctx: &TenantCtx) -> Route {
    Fleet::default().workflow_route(ctx)
}

/// Where the activities of a claimed tenant run, in the example's fleet.
pub fn activity_route(claim: &SignedClaim) -> Route {
    Fleet::default().activity_route(claim)
}

/// The queue of cross-tenant (system) work of the example's fleet.
pub fn system_queue() -> String {
    Fleet::default().system_queue()
}

/// Every task queue the example's fleet polls.
pub fn all_task_queues() -> Vec<String> {
    Fleet::default().all_task_queues()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_workflow_finds_its_fleet_from_its_task_queue() {
        for prefix in ["provisioning", "wkill-123", "a-workflow-0", "x"] {
            let fleet = Fleet::new(prefix);
            for shard in 0..SHARDS.get() {
                let workflows = task_queue_name(prefix, QueueKind::Workflow, shard);
                assert_eq!(Fleet::of_workflow_queue(&workflows), Some(fleet.clone()));
                let activities = task_queue_name(prefix, QueueKind::Activity, shard);
                assert_eq!(Fleet::of_workflow_queue(&activities), None, "{activities}");
            }
            assert_eq!(Fleet::of_workflow_queue(&fleet.system_queue()), None);
        }
        for queue in [
            "provisioning-activity-0",
            "provisioning-workflow-2",
            "provisioning-workflow-01",
            "provisioning-workflow-",
            "-workflow-0",
            "workflow-0",
            "provisioning-system",
            "",
        ] {
            assert_eq!(Fleet::of_workflow_queue(queue), None, "{queue}");
        }
    }
}
