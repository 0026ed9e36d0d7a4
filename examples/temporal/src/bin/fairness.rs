//! Fairness by plan, measured on a real Temporal server: three tenants of weights 10, 3 and 1
//! flood one activity task queue, a worker with a single activity slot drains it slowly, and the
//! share of completions each tenant got is printed next to the ideal 10:3:1. The same flood
//! with every weight 1 runs first, as the baseline (every task still carries its tenant's
//! fairness key: the worker refuses one that does not).
//!
//! ```text
//! temporal server start-dev --headless --ip 127.0.0.1 --port 7233 \
//!     --dynamic-config-value matching.enableFairness=true \
//!     --dynamic-config-value matching.numTaskqueueReadPartitions=1 \
//!     --dynamic-config-value matching.numTaskqueueWritePartitions=1
//! cargo run --release -p example-temporal --bin fairness
//! ```
//!
//! `TEMPORAL_ADDRESS` names the server (default `127.0.0.1:7233`); `FAIRNESS_JOBS` the jobs per
//! tenant (default 120) and `FAIRNESS_JOB_MS` how long each takes (default 15).

// The Temporal SDK's `#[activities]` and `#[workflow_methods]` add public items without docs.
#![allow(missing_docs)]

use std::collections::BTreeMap;
use std::error::Error;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use temporalio_client::{
    Client, ClientOptions, Connection, ConnectionOptions, WorkflowGetResultOptions,
};
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use temporalio_sdk::runtime::worker_tuner::{FixedSizeSlotSupplier, TunerHolder};
use temporalio_sdk::{Worker, WorkerOptions, WorkflowContext, WorkflowResult};
use tenant::routing::{QueueKind, Routing};
use tenant::temporal::{InputVerifier, RouteExt, TenantActivities};
use tenant::{InMemoryRegistry, Plan, SignedClaim, SigningKeys, TenancyConfig, TenantCtx};

/// The slow worker's one activity.
#[derive(Clone)]
pub struct Drain {
    completions: Arc<Mutex<Vec<String>>>,
    job_time: Duration,
    verifier: InputVerifier,
}

impl TenantActivities for Drain {
    fn input_verifier(&self) -> &InputVerifier {
        &self.verifier
    }
}

#[tenant::activities]
impl Drain {
    /// One job of `job_time`, recorded by tenant when it completes.
    #[activity]
    pub async fn slow_job(
        self: Arc<Self>,
        _actx: ActivityContext,
        ctx: TenantCtx,
        job: u32,
    ) -> Result<u32, ActivityError> {
        tokio::time::sleep(self.job_time).await;
        self.completions
            .lock()
            .expect("completions lock")
            .push(ctx.tenant_id().to_string());
        Ok(job)
    }
}

/// The routing of one flood: its own task queues `{prefix}-..`, one shard, so that every
/// tenant's jobs share the one queue whose fairness is measured.
fn flood_routing(prefix: &str, fair: bool) -> Routing {
    let routing = Routing::new("default", prefix, std::num::NonZeroU32::MIN);
    if fair {
        routing
    } else {
        // The baseline: every plan weighs 1. The worker checks each task's weight against the
        // signed plan's under the routing it shares with the workflows, so the baseline is a
        // routing of its own, not a weight overridden in the workflow.
        routing.with_weights("free=1,pro=1,enterprise=1".parse().expect("valid weights"))
    }
}

/// One tenant's part of the flood: `jobs` jobs on the queues under `prefix`, with its plan's
/// weight (`fair`) or all weights 1.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Flood {
    ctx: SignedClaim,
    prefix: String,
    jobs: u32,
    fair: bool,
}

/// Schedules a [`Flood`].
#[workflow]
#[derive(Default)]
pub struct FloodQueue;

#[workflow_methods]
impl FloodQueue {
    /// Schedules every job at once, so the queue holds a backlog from all tenants.
    #[run]
    pub async fn run(wf: &mut WorkflowContext<Self>, flood: Flood) -> WorkflowResult<u32> {
        let route =
            flood_routing(&flood.prefix, flood.fair).route_claim(&flood.ctx, QueueKind::Activity);
        let options = route.activity_options(Duration::from_secs(600));
        let jobs = (0..flood.jobs).map(|job| {
            wf.execute_activity(
                Drain::slow_job,
                SlowJobInput {
                    ctx: flood.ctx.clone(),
                    job,
                },
                options.clone(),
            )
        });
        let mut done = 0;
        for result in futures::future::join_all(jobs).await {
            result?;
            done += 1;
        }
        Ok(done)
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let address = std::env::var("TEMPORAL_ADDRESS").unwrap_or_else(|_| "127.0.0.1:7233".to_owned());
    let jobs = env_number("FAIRNESS_JOBS", 120) as u32;
    let job_time = Duration::from_millis(env_number("FAIRNESS_JOB_MS", 15));
    let url: temporalio_client::Url = format!("http://{address}").parse()?;
    let connection = Connection::connect(
        ConnectionOptions::new(url)
            .identity("fairness".to_owned())
            .build(),
    )
    .await?;
    let client = Client::new(connection, ClientOptions::new("default").build())?;
    let tenants = [
        TenantCtx::trusted("big".parse()?, "tenant_big".parse()?, Plan::Enterprise),
        TenantCtx::trusted("mid".parse()?, "tenant_mid".parse()?, Plan::Pro),
        TenantCtx::trusted("small".parse()?, "tenant_small".parse()?, Plan::Free),
    ];
    println!(
        "{} tenants x {jobs} jobs of {} ms on one queue, one activity slot",
        tenants.len(),
        job_time.as_millis()
    );
    for fair in [false, true] {
        let order = flood(&client, &tenants, jobs, job_time, fair).await?;
        report(&tenants, &order, jobs, fair);
    }
    Ok(())
}

/// `join_all` over more futures than this switches to `FuturesOrdered`, whose own waker the
/// SDK's determinism check rejects; larger floods are spread over several workflows.
const JOBS_PER_WORKFLOW: u32 = 30;

/// Floods a fresh queue and returns the tenants in completion order.
async fn flood(
    client: &Client,
    tenants: &[TenantCtx],
    jobs: u32,
    job_time: Duration,
    fair: bool,
) -> Result<Vec<String>, Box<dyn Error>> {
    let run = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis();
    let prefix = format!("fairness-{run}");
    let routing = flood_routing(&prefix, fair);
    // The flood's starter signs each tenant's claim and the drain verifies it, in this one
    // process: a demonstration key, not a secret (a deployment reads its keys from configuration).
    let keys = SigningKeys::new("fairness", b"fairness demo key, not a secret!")?;
    let activity_queue = routing.route(&tenants[0], QueueKind::Activity).task_queue;
    let workflow_queue = format!("{prefix}-flood");

    // Enqueue everything before any activity worker polls, so every tenant has a backlog.
    let mut handles = Vec::new();
    for ctx in tenants {
        let route = routing.route(ctx, QueueKind::Workflow);
        for part in 0..jobs.div_ceil(JOBS_PER_WORKFLOW) {
            let flood = Flood {
                ctx: SignedClaim::sign(ctx, &keys, &routing.audience(), Duration::from_secs(3600))?,
                prefix: prefix.clone(),
                jobs: JOBS_PER_WORKFLOW.min(jobs - part * JOBS_PER_WORKFLOW),
                fair,
            };
            let mut options =
                route.workflow_start_options(format!("flood-{}-{part}-{run}", ctx.tenant_id()));
            options.task_queue = workflow_queue.clone();
            handles.push(
                client
                    .start_workflow(FloodQueue::run, flood, options)
                    .await?,
            );
        }
    }
    let runtime = temporalio_sdk::Runtime::from_current_tokio(Default::default())?;
    let completions = Arc::new(Mutex::new(Vec::new()));
    let registry = InMemoryRegistry::from_ids(tenants.iter().map(|t| t.tenant_id().clone()))?;
    let drain = Drain {
        completions: Arc::clone(&completions),
        job_time,
        verifier: InputVerifier::new(Arc::new(registry), TenancyConfig::default(), routing, keys),
    };
    let mut scheduler = Worker::new(
        &runtime,
        client.clone(),
        WorkerOptions::new(workflow_queue.as_str())
            .register_workflow::<FloodQueue>()?
            .build(),
    )?;
    // The scheduler must have scheduled every job before the drain starts.
    let scheduler_stop = scheduler.shutdown_handle();
    let wait_for_backlog = async {
        // Give the workflow tasks time to schedule all activities before the slow worker polls.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let mut drainer = Worker::new(
            &runtime,
            client.clone(),
            WorkerOptions::new(activity_queue.as_str())
                .register_activities(drain)
                .tuner(
                    TunerHolder::builder()
                        .workflow_task_slot_supplier(FixedSizeSlotSupplier::new(1))
                        .activity_task_slot_supplier(FixedSizeSlotSupplier::new(1))
                        .local_activity_task_slot_supplier(FixedSizeSlotSupplier::new(1))
                        .nexus_task_slot_supplier(FixedSizeSlotSupplier::new(1))
                        .build(),
                )
                .build(),
        )?;
        let drainer_stop = drainer.shutdown_handle();
        let results = async {
            for handle in &handles {
                handle
                    .get_result(WorkflowGetResultOptions::default())
                    .await?;
            }
            drainer_stop();
            scheduler_stop();
            Ok::<_, Box<dyn Error>>(())
        };
        let (drained, results) = tokio::join!(drainer.run(), results);
        drained?;
        results
    };
    let (scheduled, drained) = tokio::join!(scheduler.run(), wait_for_backlog);
    scheduled?;
    drained?;
    let order = completions.lock().expect("completions lock").clone();
    Ok(order)
}

fn report(tenants: &[TenantCtx], order: &[String], jobs: u32, fair: bool) {
    let weights: Vec<f64> = tenants
        .iter()
        .map(|ctx| tenant::routing::FairnessWeight::for_plan(ctx.plan(), &Default::default()).get())
        .collect();
    let total_weight: f64 = weights.iter().sum();
    // While every tenant still has a backlog: the heaviest runs out first, after about
    // jobs * total / heaviest completions.
    let window = ((f64::from(jobs) * total_weight / weights[0]) as usize).min(order.len());
    let window = window * 7 / 10;
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for tenant in &order[..window] {
        *counts.entry(tenant.as_str()).or_default() += 1;
    }
    println!(
        "\n{} — share of the first {window} of {} completions:",
        if fair {
            "fairness_key = tenant, fairness_weight = plan weight"
        } else {
            "baseline, every weight 1"
        },
        order.len()
    );
    println!(
        "  {:<8} {:>6} {:>8} {:>8}",
        "tenant", "weight", "share", "ideal"
    );
    for (ctx, weight) in tenants.iter().zip(&weights) {
        let got = counts.get(ctx.tenant_id().as_str()).copied().unwrap_or(0);
        println!(
            "  {:<8} {:>6} {:>7.1}% {:>7.1}%",
            ctx.tenant_id().as_str(),
            weight,
            100.0 * got as f64 / window as f64,
            100.0 * weight / total_weight,
        );
    }
}
