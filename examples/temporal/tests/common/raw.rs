//! A workflow that calls an activity with a payload, task queue and priority the typed API
//! cannot express: the end-to-end test plays a buggy or hostile workflow with it.

use std::time::Duration;

use example_temporal::{Provisioning, worker_options};
use serde::{Deserialize, Serialize};
use temporalio_client::Client;
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{WorkflowContext, WorkflowResult};

const ACTIVITY_TIMEOUT: Duration = Duration::from_secs(30);

/// A call the typed API cannot express: `payload` handed to `activity` as it is, on
/// `task_queue` with `fairness_key`, `fairness_weight` and `priority_key` (none: the task carries
/// no such field of its own). The tests use it to play a buggy or hostile workflow.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RawCall {
    pub(crate) activity: String,
    pub(crate) payload: serde_json::Value,
    pub(crate) task_queue: String,
    pub(crate) fairness_key: Option<String>,
    #[serde(default)]
    pub(crate) fairness_weight: Option<f32>,
    #[serde(default)]
    pub(crate) priority_key: Option<u32>,
}

/// How a [`RawCall`] ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct RawOutcome {
    pub(crate) completed: bool,
    pub(crate) failure_type: Option<String>,
    pub(crate) non_retryable: bool,
    pub(crate) message: String,
}

#[workflow]
#[derive(Default)]
pub(crate) struct ForwardRaw;

#[workflow_methods]
impl ForwardRaw {
    #[run]
    pub(crate) async fn run(
        wf: &mut WorkflowContext<Self>,
        call: RawCall,
    ) -> WorkflowResult<RawOutcome> {
        use temporalio_common::data_converters::{PayloadConverter, RawValue};
        let input = RawValue::from_value(&call.payload, &PayloadConverter::default());
        // `Priority` is non-exhaustive: set each field on a default.
        let mut priority = temporalio_common::Priority::default();
        priority.fairness_key = call.fairness_key;
        priority.fairness_weight = call.fairness_weight;
        priority.priority_key = call.priority_key;
        let options =
            temporalio_sdk::ActivityOptions::with_start_to_close_timeout(ACTIVITY_TIMEOUT)
                .task_queue(call.task_queue)
                .priority(priority)
                .build();
        let activity = temporalio_common::UntypedActivity::new(call.activity);
        Ok(match wf.execute_activity(activity, input, options).await {
            Ok(_) => RawOutcome {
                completed: true,
                failure_type: None,
                non_retryable: false,
                message: String::new(),
            },
            Err(error) => match error.cause() {
                Some(temporalio_common::error::IncomingError::Application(failure)) => RawOutcome {
                    completed: false,
                    failure_type: failure.type_name().map(str::to_owned),
                    non_retryable: failure.is_non_retryable(),
                    message: failure.source_error().to_string(),
                },
                other => RawOutcome {
                    completed: false,
                    failure_type: None,
                    non_retryable: false,
                    message: format!("{error}: {other:?}"),
                },
            },
        })
    }
}

/// [`example_temporal::with_workers`], with [`ForwardRaw`] registered on every worker too.
pub(crate) async fn with_workers<T>(
    client: &Client,
    activities: &Provisioning,
    body: impl Future<Output = Result<T, Box<dyn std::error::Error>>>,
) -> Result<T, Box<dyn std::error::Error>> {
    let mut options = Vec::new();
    for queue in activities.fleet().all_task_queues() {
        let mut worker = worker_options(&queue, activities)?;
        worker.register_workflow::<ForwardRaw>()?;
        options.push(worker);
    }
    example_temporal::run_workers(client, options, body).await
}
