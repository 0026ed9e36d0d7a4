//! The tenant-provisioning workflow: its activities, its workflows, and the worker wiring.
//! Shared by `src/bin/worker.rs` and the tests (`tests/end_to_end.rs`, `tests/worker_kill.rs`),
//! so the tests run what the example shows; what only the tests need is in `tests/common`.
//!
//! A schema per tenant, on PostgreSQL: the registry lives in the pool's default schema;
//! provisioning creates the tenant's own schema (the schema the registry names) with its tables
//! and the application's migration, and every tenant data activity runs in a transaction whose
//! search path is that schema alone; offboarding drops the schema.
//!
//! Every activity is a method of one `#[tenant::activities]` block and receives its tenant as a
//! typed `TenantCtx`, which the worker verifies from the signed claim in its input; those that
//! work across tenants are system activities with an audited `SystemCtx`, run only for a signed
//! system token of their reason. The process that starts the workflows holds the claim keys
//! ([`claim_keys`]) and signs each workflow's claim and tokens
//! ([`Provisioning::provision_request`], [`Provisioning::offboard_request`]); the workflows pass
//! them on to their activities. Workflows route every activity with the fleet's `Routing`: the tenant's
//! shard picks the task queue, and the priority carries fairness_key = tenant and
//! fairness_weight = plan weight, set explicitly on each activity.

use std::num::NonZeroU32;
use std::time::Duration;

use temporalio_client::{Client, ClientOptions, Connection, ConnectionOptions};
use temporalio_sdk::{Worker, WorkerOptions};
use tenant::{Plan, SigningKeys, SigningKeysError, TenantCtx};

mod activities;
mod fleet;
mod moving;
mod workflows;

pub use activities::*;
pub use fleet::*;
pub use moving::*;
pub use workflows::*;

/// The Temporal namespace of the example's workers and workflows.
pub const NAMESPACE: &str = "default";
/// The task queue prefix of the example's fleet.
pub const QUEUE_PREFIX: &str = "provisioning";
/// The shards of each kind of task queue.
pub const SHARDS: NonZeroU32 = NonZeroU32::new(2).unwrap();
/// The schema version `run_tenant_migrations` brings a tenant to.
pub const SCHEMA_VERSION: u32 = 3;
pub(crate) const ACTIVITY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the migrations activity may go without a heartbeat. Without it, a worker that dies
/// mid-migration is noticed only when the start-to-close timeout runs out; with it, within
/// seconds, and the migration is retried on another worker.
pub const MIGRATION_HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a workflow's signed claim and system tokens stay valid. Provisioning and offboarding
/// take seconds (minutes with retries after a worker dies), so an hour covers a run with room
/// to spare, and no workflow here needs to renew its claim (see the `tenant::temporal` docs,
/// "Signed claims and long-running workflows").
pub const CLAIM_LIFETIME: Duration = Duration::from_secs(3600);
/// The variable holding the claim keys (`key_id:base64_key`, comma-separated, the signing key
/// first): the same on every worker and starter of a fleet.
pub const CLAIM_KEYS_VAR: &str = "CLAIM_SIGNING_KEYS";

/// The claim keys from [`CLAIM_KEYS_VAR`]: `None` when it is unset, an error when it is set but
/// invalid (never a default key).
pub fn claim_keys() -> Result<Option<SigningKeys>, SigningKeysError> {
    match std::env::var(CLAIM_KEYS_VAR) {
        Ok(text) => text.parse().map(Some),
        Err(_) => Ok(None),
    }
}

/// How often the migrations activity heartbeats while it works: well within the timeout.
pub(crate) const HEARTBEAT_EVERY: Duration = Duration::from_millis(500);

/// Connects to the Temporal frontend at `address` (`host:port`).
pub async fn connect(address: &str) -> Result<Client, Box<dyn std::error::Error>> {
    let url: temporalio_client::Url = format!("http://{address}").parse()?;
    let connection = Connection::connect(
        ConnectionOptions::new(url)
            .identity(worker_identity())
            .build(),
    )
    .await?;
    Ok(Client::new(
        connection,
        ClientOptions::new(NAMESPACE).build(),
    )?)
}

/// The options of a worker on `queue`: the example's workflows and `activities` registered.
pub fn worker_options(
    queue: &str,
    activities: &Provisioning,
) -> Result<WorkerOptions, Box<dyn std::error::Error>> {
    Ok(WorkerOptions::new(queue)
        .register_workflow::<ProvisionTenant>()?
        .register_workflow::<OffboardTenant>()?
        .register_workflow::<MoveTenant>()?
        .register_activities(activities.clone())
        .build())
}

/// [`worker_options`] with the move's activities too.
pub fn mover_worker_options(
    queue: &str,
    activities: &Provisioning,
    mover: &Mover,
) -> Result<WorkerOptions, Box<dyn std::error::Error>> {
    let mut options = worker_options(queue, activities)?;
    options.register_activities(mover.clone());
    Ok(options)
}

/// [`with_workers`] whose workers run the move's activities too.
pub async fn with_move_workers<T>(
    client: &Client,
    activities: &Provisioning,
    mover: &Mover,
    body: impl Future<Output = Result<T, Box<dyn std::error::Error>>>,
) -> Result<T, Box<dyn std::error::Error>> {
    let options = activities
        .fleet()
        .all_task_queues()
        .iter()
        .map(|queue| mover_worker_options(queue, activities, mover))
        .collect::<Result<Vec<_>, _>>()?;
    run_workers(client, options, body).await
}

/// Two tenants of different plans, for the worker: `acme-{run}` and `globex-{run}`, with the
/// schemas `tenant_acme_{run}` and `tenant_globex_{run}`. Unique per run (`run` of
/// `[a-z0-9]`), because the registry and the schemas outlive the run, and an offboarded
/// tenant's id stays taken by its deactivated record.
pub fn tenants(run: &str) -> Result<[TenantCtx; 2], tenant::Error> {
    Ok([
        TenantCtx::trusted(
            format!("acme-{run}").parse()?,
            format!("tenant_acme_{run}").parse()?,
            Plan::Enterprise,
        ),
        TenantCtx::trusted(
            format!("globex-{run}").parse()?,
            format!("tenant_globex_{run}").parse()?,
            Plan::Free,
        ),
    ])
}

/// Runs one worker per task queue of the activities' fleet ([`worker_options`]) while `body`
/// runs, then shuts them down and waits for them.
pub async fn with_workers<T>(
    client: &Client,
    activities: &Provisioning,
    body: impl Future<Output = Result<T, Box<dyn std::error::Error>>>,
) -> Result<T, Box<dyn std::error::Error>> {
    let options = activities
        .fleet()
        .all_task_queues()
        .iter()
        .map(|queue| worker_options(queue, activities))
        .collect::<Result<Vec<_>, _>>()?;
    run_workers(client, options, body).await
}

/// Runs a worker with each of `options` while `body` runs, then shuts them down and waits for
/// them.
pub async fn run_workers<T>(
    client: &Client,
    options: Vec<WorkerOptions>,
    body: impl Future<Output = Result<T, Box<dyn std::error::Error>>>,
) -> Result<T, Box<dyn std::error::Error>> {
    let runtime = temporalio_sdk::Runtime::from_current_tokio(Default::default())?;
    let mut workers = options
        .into_iter()
        .map(|options| Worker::new(&runtime, client.clone(), options))
        .collect::<Result<Vec<_>, _>>()?;
    let shutdowns: Vec<_> = workers.iter().map(Worker::shutdown_handle).collect();
    let body = async {
        let outcome = body.await;
        for shutdown in &shutdowns {
            shutdown();
        }
        outcome
    };
    let (runs, outcome) = tokio::join!(
        futures::future::join_all(workers.iter_mut().map(Worker::run)),
        body
    );
    for run in runs {
        run?;
    }
    outcome
}
