//! Rust and Python workers on one Temporal namespace: the Rust side of the mixed example.
//!
//! The seeds' services are Python workers on the official `temporalio` SDK, with the context
//! `TenantCtx(tenant_id, schema_name, plan=None)` and inputs such as
//! `RunMigrationsInput(ctx, target_version)` (`python/tenant_seeds`). Next to them runs a
//! Rust worker of `#[tenant::activities]`, here with an in-memory registry, and both directions
//! cross the same server:
//!
//! - a Python workflow (`SeedsProvision`, `SeedsCall`) schedules the Rust activity
//!   `run_migrations` with the seeds' dataclasses and a claim the Python port signed
//!   (`tenant_seeds.signing`), routed by the Python port of `Routing::route_claim`; the Rust
//!   worker checks the signature, the task's route and the registry before the body runs
//!   ([`SeedsActivities`]);
//! - a Rust workflow ([`CallSeeds`]) schedules the Python activity `seeds_run_migrations` with
//!   a [`SignedClaim`] the Rust side signed, which Python reads as its own dataclass and
//!   verifies with the Python port.
//!
//! Both sides hold the same claim keys (`CLAIM_SIGNING_KEYS` for the Python process).
//!
//! `tests/python_interop.rs` runs both against a dev server, with the Python worker as a child
//! process (`python -m tenant_seeds.worker`).

// The Temporal SDK's `#[activities]` (which `#[tenant::activities]` wraps) and
// `#[workflow_methods]` add public associated constants without docs, in impls of their own
// that an `allow` on the annotated impl does not reach.
#![allow(missing_docs)]

use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use temporalio_client::{Client, ClientOptions, Connection, ConnectionOptions};
use temporalio_common::{ActivityDefinition, HasWorkflowDefinition, WorkflowDefinition};
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use temporalio_sdk::{Worker, WorkerOptions, WorkflowContext, WorkflowResult};
use tenant::registry::InMemoryRegistry;
use tenant::routing::{QueueKind, Routing, task_queue_name};
use tenant::temporal::{InputVerifier, RouteExt, TenantActivities, WorkflowInput};
use tenant::{Plan, SignedClaim, SigningKeys, TenancyConfig, Tenant, TenantCtx};

/// The namespace both SDKs' workers use.
pub const NAMESPACE: &str = "default";
/// The shards of each side's activity queues.
pub const SHARDS: NonZeroU32 = NonZeroU32::new(2).unwrap();
const ACTIVITY_TIMEOUT: Duration = Duration::from_secs(30);

/// The routing of the activity queues under `prefix`, in [`NAMESPACE`] over [`SHARDS`]: what
/// workflows schedule with and what the worker of those queues verifies tasks against.
pub fn routing(prefix: &str) -> Routing {
    Routing::new(NAMESPACE, prefix, SHARDS)
}

/// The task queues of one run, under a prefix of its own: several runs (CI jobs, developers)
/// may share one dev server, and a worker takes any task on the queues it polls.
#[derive(Debug, Clone)]
pub struct Queues {
    prefix: String,
}

impl Queues {
    /// The queues under `prefix`.
    pub fn new(prefix: impl Into<String>) -> Self {
        Queues {
            prefix: prefix.into(),
        }
    }

    /// The prefix the Rust activity queues are routed under (`{prefix}-rs-activity-{shard}`).
    pub fn rust_prefix(&self) -> String {
        format!("{}-rs", self.prefix)
    }

    /// The prefix the Python activity queues are routed under (`{prefix}-py-activity-{shard}`).
    pub fn python_prefix(&self) -> String {
        format!("{}-py", self.prefix)
    }

    /// The routing of the Rust activities.
    pub fn rust_routing(&self) -> Routing {
        routing(&self.rust_prefix())
    }

    /// The routing of the Python activities.
    pub fn python_routing(&self) -> Routing {
        routing(&self.python_prefix())
    }

    /// The queue of the Rust workflows.
    pub fn rust_workflows(&self) -> String {
        format!("{}-rs-workflows", self.prefix)
    }

    /// The queue of the Python workflows.
    pub fn python_workflows(&self) -> String {
        format!("{}-py-workflows", self.prefix)
    }

    /// Every shard's activity queue under `prefix`.
    pub fn activity_shards(prefix: &str) -> Vec<String> {
        (0..SHARDS.get())
            .map(|shard| task_queue_name(prefix, QueueKind::Activity, shard))
            .collect()
    }
}

/// The registry of the example: acme (enterprise) and globex (free) active, umbrella
/// deactivated; initech unknown.
pub fn registry() -> InMemoryRegistry {
    let tenant = |id: &str, plan: Plan, is_active: bool| Tenant {
        id: id.parse().expect("a valid id"),
        slug: id.parse().expect("a valid id"),
        name: id.to_owned(),
        plan,
        schema_name: format!("tenant_{id}").parse().expect("a valid schema"),
        is_active,
        limits: None,
        placement: Default::default(),
        created_at: SystemTime::UNIX_EPOCH,
        updated_at: SystemTime::UNIX_EPOCH,
    };
    InMemoryRegistry::new([
        tenant("acme", Plan::Enterprise, true),
        tenant("globex", Plan::Free, true),
        tenant("umbrella", Plan::Pro, false),
    ])
    .expect("distinct tenants")
}

/// What one run of the Rust activity's body saw: the context the registry gave, and the task's
/// route. A refused input leaves no record, which is how the test proves the body never ran.
#[derive(Debug, Clone, PartialEq)]
pub struct BodyRun {
    /// The workflow that scheduled the activity (a Python one).
    pub workflow_id: Option<String>,
    /// The verified tenant.
    pub tenant_id: String,
    /// The registry's schema.
    pub schema_name: String,
    /// The registry's plan.
    pub plan: String,
    /// The queue the task came through.
    pub task_queue: String,
    /// Its fairness key.
    pub fairness_key: Option<String>,
    /// Its fairness weight.
    pub fairness_weight: Option<f32>,
}

/// Every run of a Rust activity body.
#[derive(Debug, Clone, Default)]
pub struct Journal(Arc<Mutex<Vec<BodyRun>>>);

impl Journal {
    fn record(&self, actx: &ActivityContext, ctx: &TenantCtx) {
        let info = actx.info();
        self.0.lock().expect("journal lock").push(BodyRun {
            workflow_id: info.workflow_id.clone(),
            tenant_id: ctx.tenant_id().to_string(),
            schema_name: ctx.schema_name().to_string(),
            plan: ctx.plan().to_string(),
            task_queue: info.task_queue.clone(),
            fairness_key: info.priority.fairness_key.clone(),
            fairness_weight: info.priority.fairness_weight,
        });
    }

    /// The body runs for the workflow `workflow_id`.
    pub fn runs_for(&self, workflow_id: &str) -> Vec<BodyRun> {
        self.0
            .lock()
            .expect("journal lock")
            .iter()
            .filter(|run| run.workflow_id.as_deref() == Some(workflow_id))
            .cloned()
            .collect()
    }
}

/// What `run_migrations` returns: the context it ran with (the registry's schema and plan).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MigrationReport {
    /// The verified tenant.
    pub tenant_id: String,
    /// The registry's schema.
    pub schema_name: String,
    /// The registry's plan.
    pub plan: String,
    /// The version reached.
    pub target_version: u32,
}

/// The Rust activities the Python workflows call, verified against [`registry`] and routed
/// under [`Queues::rust_prefix`].
#[derive(Clone)]
pub struct SeedsActivities {
    verifier: InputVerifier,
    journal: Journal,
}

impl SeedsActivities {
    /// The activities of a run whose queues are `queues`, verifying claims with `keys` and
    /// recording body runs in `journal`.
    pub fn new(queues: &Queues, journal: Journal, keys: SigningKeys) -> Self {
        let verifier = InputVerifier::new(
            Arc::new(registry()),
            TenancyConfig::default(),
            queues.rust_routing(),
            keys,
        );
        SeedsActivities { verifier, journal }
    }
}

impl TenantActivities for SeedsActivities {
    fn input_verifier(&self) -> &InputVerifier {
        &self.verifier
    }
}

#[tenant::activities]
impl SeedsActivities {
    /// The seeds' `run_migrations`, by the name Python calls it: `RunMigrationsInput(ctx,
    /// target_version)` on the wire. Records that it ran, with the registry's context.
    #[activity(name = "run_migrations")]
    pub async fn run_migrations(
        self: Arc<Self>,
        actx: ActivityContext,
        ctx: TenantCtx,
        target_version: u32,
    ) -> Result<MigrationReport, ActivityError> {
        self.journal.record(&actx, &ctx);
        Ok(MigrationReport {
            tenant_id: ctx.tenant_id().to_string(),
            schema_name: ctx.schema_name().to_string(),
            plan: ctx.plan().to_string(),
            target_version,
        })
    }
}

/// The Python activity `seeds_run_migrations`, typed on the Rust side: the SDK's way to call an
/// activity another language implements.
pub struct SeedsRunMigrations;

/// Its input: the seeds' `RunMigrationsInput`, with the Rust side's signed claim, which Python
/// reads as its `SignedClaim` dataclass and verifies.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SeedsRunMigrationsInput {
    /// The tenant.
    pub ctx: SignedClaim,
    /// The version to reach.
    pub target_version: u32,
}

impl ActivityDefinition for SeedsRunMigrations {
    type Input = SeedsRunMigrationsInput;
    // What the Python activity says it saw; the test reads it field by field.
    type Output = serde_json::Value;

    fn name(&self) -> &str {
        "seeds_run_migrations"
    }
}

/// [`CallSeeds`]'s input.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallSeedsRequest {
    /// The tenant, as a claim signed for the Python activities' audience.
    pub ctx: SignedClaim,
    /// The version to reach.
    pub target_version: u32,
    /// The prefix the Python activity queues are routed under.
    pub python_prefix: String,
}

/// A Rust workflow that schedules the Python activity with the Rust side's context, routed by
/// [`Routing::route_claim`] exactly as a Rust activity would be.
#[workflow]
#[derive(Default)]
pub struct CallSeeds;

#[workflow_methods]
impl CallSeeds {
    /// Runs `seeds_run_migrations` for the request's tenant and returns what Python saw.
    #[run]
    pub async fn run(
        wf: &mut WorkflowContext<Self>,
        request: WorkflowInput<CallSeedsRequest>,
    ) -> WorkflowResult<serde_json::Value> {
        let CallSeedsRequest {
            ctx,
            target_version,
            python_prefix,
        } = request.open()?;
        let options = routing(&python_prefix)
            .route_claim(&ctx, QueueKind::Activity)
            .activity_options(ACTIVITY_TIMEOUT);
        let seen = wf
            .execute_activity(
                SeedsRunMigrations,
                SeedsRunMigrationsInput {
                    ctx,
                    target_version,
                },
                options,
            )
            .await?;
        Ok(seen)
    }
}

/// The Python workflow `SeedsProvision`: runs the Rust `run_migrations` for a tenant, routed by
/// the Python `route_for_tenant` (the port of [`Routing::route`]).
pub struct SeedsProvision;

/// `SeedsProvision`'s input (`tenant_seeds.workflows.ProvisionRequest`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProvisionRequest {
    /// The tenant's claim, signed by the Python port.
    pub ctx: SignedClaim,
    /// The namespace to route in.
    pub namespace: String,
    /// The prefix the Rust activity queues are routed under.
    pub queue_prefix: String,
    /// Their shard count.
    pub shards: u32,
    /// The version to reach.
    pub target_version: u32,
}

impl WorkflowDefinition for SeedsProvision {
    type Input = ProvisionRequest;
    type Output = serde_json::Value;

    fn name(&self) -> &str {
        "SeedsProvision"
    }
}

impl HasWorkflowDefinition for SeedsProvision {
    type Run = Self;
}

/// The Python workflow `SeedsCall`: one Rust activity, with a payload and a route of the
/// caller's choosing.
pub struct SeedsCall;

/// `SeedsCall`'s input (`tenant_seeds.workflows.RustCall`): the payload is `raw` as it is.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RustCall {
    /// The activity type.
    pub activity: String,
    /// The queue to schedule it on.
    pub task_queue: String,
    /// Its fairness key; none means none set (the workflow has none to inherit).
    pub fairness_key: Option<String>,
    /// Its fairness weight.
    pub fairness_weight: Option<f64>,
    /// The payload.
    pub raw: serde_json::Value,
}

/// How a [`SeedsCall`] ended, as the Python SDK saw it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outcome {
    /// The activity completed.
    pub completed: bool,
    /// Its result.
    pub result: serde_json::Value,
    /// The application failure's type.
    pub failure_type: Option<String>,
    /// Whether the failure was non-retryable.
    pub non_retryable: bool,
    /// The failure's message.
    pub message: String,
}

impl WorkflowDefinition for SeedsCall {
    type Input = RustCall;
    type Output = Outcome;

    fn name(&self) -> &str {
        "SeedsCall"
    }
}

impl HasWorkflowDefinition for SeedsCall {
    type Run = Self;
}

/// Connects to the Temporal frontend at `address` (`host:port`).
pub async fn connect(address: &str) -> Result<Client, Box<dyn std::error::Error>> {
    let url: temporalio_client::Url = format!("http://{address}").parse()?;
    let connection = Connection::connect(
        ConnectionOptions::new(url)
            .identity("tenant-interop".to_owned())
            .build(),
    )
    .await?;
    Ok(Client::new(
        connection,
        ClientOptions::new(NAMESPACE).build(),
    )?)
}

/// Runs the Rust workers of `queues` (the Rust workflow queue and the Rust activity shards,
/// each with [`CallSeeds`] and the activities, verifying claims with `keys`) while `body` runs,
/// then shuts them down.
pub async fn with_rust_workers<T>(
    client: &Client,
    queues: &Queues,
    journal: &Journal,
    keys: SigningKeys,
    body: impl Future<Output = Result<T, Box<dyn std::error::Error>>>,
) -> Result<T, Box<dyn std::error::Error>> {
    let runtime = temporalio_sdk::Runtime::from_current_tokio(Default::default())?;
    let activities = SeedsActivities::new(queues, journal.clone(), keys);
    let mut task_queues = Queues::activity_shards(&queues.rust_prefix());
    task_queues.push(queues.rust_workflows());
    let mut workers = Vec::new();
    for queue in &task_queues {
        let options = WorkerOptions::new(queue.as_str())
            .register_workflow::<CallSeeds>()?
            .register_activities(activities.clone())
            .build();
        workers.push(Worker::new(&runtime, client.clone(), options)?);
    }
    let shutdowns: Vec<_> = workers.iter().map(Worker::shutdown_handle).collect();
    let body = async {
        let outcome = body.await;
        for shutdown in &shutdowns {
            shutdown();
        }
        outcome
    };
    let (runs, outcome) = futures::join!(
        futures::future::join_all(workers.iter_mut().map(Worker::run)),
        body
    );
    for run in runs {
        run?;
    }
    outcome
}
