//! The tenant-provisioning workflow: its activities, its workflows, and the worker wiring.
//! Shared by `src/bin/worker.rs` and `tests/end_to_end.rs`, so the test runs what the example
//! shows.
//!
//! A schema per tenant, on PostgreSQL: the registry lives in the pool's default schema;
//! provisioning creates the tenant's own schema (the schema the registry names) with its tables
//! and the application's migration, and every tenant data activity runs in a transaction whose
//! search path is that schema alone; offboarding drops the schema.
//!
//! Every activity is a method of one `#[tenant::activities]` block and receives its tenant as a
//! typed `TenantCtx` in its input; those that work across tenants are system activities with an
//! audited `SystemCtx`. Workflows route every activity with `route_for_tenant`: the tenant's
//! shard picks the task queue, and the priority carries fairness_key = tenant and
//! fairness_weight = plan weight, set explicitly on each activity.

#![allow(dead_code, unreachable_pub)]

use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::{PgPool, Postgres};
use temporalio_client::{Client, ClientOptions, Connection, ConnectionOptions};
use temporalio_common::error::ApplicationFailure;
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use temporalio_sdk::{Worker, WorkerOptions, WorkflowContext, WorkflowResult};
use tenant::TenancyConfig;
use tenant::routing::{QueueKind, Route, route_for_claim, route_for_tenant, task_queue_name};
use tenant::sqlx::{NewTenant, SqlRegistry, TenantSchema, TenantTx};
use tenant::temporal::{InputVerifier, RouteExt, TenantActivities, WorkflowInput};
use tenant::{Plan, SystemCtx, TenantClaim, TenantCtx, TenantId, TenantRegistry, tenant_scoped};

pub const NAMESPACE: &str = "default";
pub const QUEUE_PREFIX: &str = "provisioning";
pub const SHARDS: NonZeroU32 = NonZeroU32::new(2).unwrap();
/// The schema version `run_tenant_migrations` brings a tenant to.
pub const SCHEMA_VERSION: u32 = 3;
const ACTIVITY_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the provisioning workflow of `ctx` runs.
pub fn workflow_route(ctx: &TenantCtx) -> Route {
    route_for_tenant(ctx, NAMESPACE, QUEUE_PREFIX, SHARDS, QueueKind::Workflow)
}

/// Where the activities of a claimed tenant run: workflow code holds claims, never contexts.
pub fn activity_route(claim: &TenantClaim) -> Route {
    route_for_claim(claim, NAMESPACE, QUEUE_PREFIX, SHARDS, QueueKind::Activity)
}

/// The queue of cross-tenant (system) work, which has no tenant to route by.
pub fn system_queue() -> String {
    format!("{QUEUE_PREFIX}-system")
}

/// Every task queue a worker fleet for this workflow polls.
pub fn all_task_queues() -> Vec<String> {
    let mut queues = Vec::new();
    for kind in [QueueKind::Workflow, QueueKind::Activity] {
        for shard in 0..SHARDS.get() {
            queues.push(task_queue_name(QUEUE_PREFIX, kind, shard));
        }
    }
    queues.push(system_queue());
    queues
}

#[tenant_scoped(table = "memberships")]
#[derive(Debug, Clone)]
pub struct Membership {
    #[key]
    pub user_id: String,
    #[tenant]
    pub tenant_id: TenantId,
    pub role: String,
}

#[tenant_scoped(table = "tenant_status")]
#[derive(Debug, Clone)]
pub struct TenantStatus {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    pub state: String,
    pub schema_version: i64,
}

/// The application's own migration, run in every tenant's schema after the entities' tables
/// (unqualified names resolve there). Idempotent, as Temporal may run an activity again.
pub const APP_MIGRATION: &str = "CREATE TABLE IF NOT EXISTS settings (\
     key TEXT NOT NULL PRIMARY KEY, value TEXT NOT NULL); \
     INSERT INTO settings (key, value) VALUES ('locale', 'en') ON CONFLICT (key) DO NOTHING";

/// What every tenant's schema holds: the tenant tables and the application's migration.
pub fn tenant_schema() -> TenantSchema {
    TenantSchema::new()
        .entity::<Membership>()
        .entity::<TenantStatus>()
        .migration(APP_MIGRATION)
}

/// What one activity attempt saw: its tenant, and the queue and priority its task came through.
#[derive(Debug, Clone, PartialEq)]
pub struct ActivityRecord {
    pub activity: String,
    /// `None` for a system activity.
    pub tenant: Option<String>,
    pub workflow_id: Option<String>,
    pub task_queue: String,
    pub fairness_key: Option<String>,
    pub fairness_weight: Option<f32>,
}

/// The records of every activity that ran, for the example's output and the test's assertions.
#[derive(Clone, Default)]
pub struct Journal(Arc<Mutex<Vec<ActivityRecord>>>);

impl Journal {
    fn record(&self, actx: &ActivityContext, tenant: Option<&TenantCtx>) {
        let info = actx.info();
        let record = ActivityRecord {
            activity: info.activity_type.clone(),
            tenant: tenant.map(|ctx| ctx.tenant_id().to_string()),
            workflow_id: info.workflow_id.clone(),
            task_queue: info.task_queue.clone(),
            fairness_key: info.priority.fairness_key.clone(),
            fairness_weight: info.priority.fairness_weight,
        };
        self.0.lock().expect("journal lock").push(record);
    }

    pub fn records(&self) -> Vec<ActivityRecord> {
        self.0.lock().expect("journal lock").clone()
    }
}

/// What `get_tenant_info` reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TenantInfo {
    pub tenant_id: String,
    pub plan: String,
    pub schema_name: String,
    pub active: bool,
}

/// A failure retrying cannot fix.
fn permanent(message: impl Into<String>) -> ActivityError {
    ActivityError::application(ApplicationFailure::non_retryable(message.into()))
}

/// A failure worth retrying (a database hiccup).
fn transient(error: tenant::sqlx::Error) -> ActivityError {
    ActivityError::application(ApplicationFailure::new(error))
}

/// A transaction in the tenant's own schema, bound to the tenant.
async fn begin_in_schema(
    pool: &PgPool,
    ctx: &TenantCtx,
) -> Result<TenantTx<Postgres>, ActivityError> {
    TenantTx::begin_in_schema(pool, ctx)
        .await
        .map_err(transient)
}

/// The activities' shared state: the database, the tenant registry (in the pool's default
/// schema), what a tenant's schema holds, and the verifier that checks every tenant activity's
/// input against that registry and this example's routing.
#[derive(Clone)]
pub struct Provisioning {
    pool: PgPool,
    registry: SqlRegistry<Postgres>,
    schema: TenantSchema,
    verifier: InputVerifier,
    journal: Journal,
}

impl TenantActivities for Provisioning {
    fn input_verifier(&self) -> &InputVerifier {
        &self.verifier
    }
}

impl Provisioning {
    /// Opens the registry on `pool`, in its default schema (creating its table if absent).
    pub async fn new(pool: PgPool, journal: Journal) -> Result<Self, tenant::sqlx::Error> {
        let registry = SqlRegistry::new(pool.clone());
        registry.migrate().await?;
        let verifier = InputVerifier::new(Arc::new(registry.clone()), TenancyConfig::default())
            .routed(NAMESPACE, QUEUE_PREFIX, SHARDS);
        Ok(Provisioning {
            pool,
            registry,
            schema: tenant_schema(),
            verifier,
            journal,
        })
    }

    /// Registers a tenant (as the sign-up form would) before its provisioning workflow starts.
    pub async fn register(&self, ctx: &TenantCtx, name: &str) -> Result<(), tenant::sqlx::Error> {
        if self.registry.find_by_id(ctx.tenant_id()).await?.is_none() {
            self.registry
                .create(NewTenant {
                    id: ctx.tenant_id().clone(),
                    slug: ctx.tenant_id().clone(),
                    name: name.to_owned(),
                    plan: ctx.plan().clone(),
                    schema_name: ctx.schema_name().clone(),
                })
                .await?;
        }
        Ok(())
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

#[tenant::activities]
impl Provisioning {
    /// The registry's record of the tenant; an unknown tenant fails for good.
    #[activity]
    pub async fn get_tenant_info(
        self: Arc<Self>,
        actx: ActivityContext,
        ctx: TenantCtx,
    ) -> Result<TenantInfo, ActivityError> {
        self.journal.record(&actx, Some(&ctx));
        let tenant = self
            .registry
            .find_by_id(ctx.tenant_id())
            .await
            .map_err(transient)?
            .ok_or_else(|| permanent("the tenant is not registered"))?;
        Ok(TenantInfo {
            tenant_id: tenant.id.to_string(),
            plan: tenant.plan.to_string(),
            schema_name: tenant.schema_name.to_string(),
            active: tenant.is_active,
        })
    }

    /// Creates the tenant's schema (the one the registry names, which the worker verified the
    /// claim against) with its tables and the application's migration, then records the schema
    /// version in it. Idempotent: a retry finds the schema and tables there and runs the
    /// migration, written to be run again, again.
    #[activity]
    pub async fn run_tenant_migrations(
        self: Arc<Self>,
        actx: ActivityContext,
        ctx: TenantCtx,
        target_version: u32,
    ) -> Result<u32, ActivityError> {
        self.journal.record(&actx, Some(&ctx));
        // Creating a schema is DDL on the database, not a data operation of the tenant: it takes
        // a system context, audited, minted here for the verified tenant's own schema only.
        let sys = SystemCtx::new("provisioning: create the tenant's schema")
            .map_err(|error| permanent(error.to_string()))?;
        self.schema
            .create(&sys, &self.pool, ctx.schema_name())
            .await
            .map_err(transient)?;
        let mut tx = begin_in_schema(&self.pool, &ctx).await?;
        // One statement: a retry, or two workers at once, cannot both insert.
        let new = NewTenantStatus {
            id: 1,
            state: "migrated".into(),
            schema_version: i64::from(target_version),
        };
        let patch = TenantStatusPatch {
            schema_version: Some(i64::from(target_version)),
            ..Default::default()
        };
        tx.repo::<TenantStatus>()
            .upsert(&ctx, new, patch)
            .await
            .map_err(transient)?;
        tx.commit().await.map_err(transient)?;
        Ok(target_version)
    }

    /// Makes `user_id` a member of the tenant, in the tenant's schema; a retry after success is
    /// not an error.
    #[activity]
    pub async fn create_membership(
        self: Arc<Self>,
        actx: ActivityContext,
        ctx: TenantCtx,
        user_id: String,
        role: String,
    ) -> Result<(), ActivityError> {
        self.journal.record(&actx, Some(&ctx));
        let mut tx = begin_in_schema(&self.pool, &ctx).await?;
        match tx
            .repo::<Membership>()
            .insert(&ctx, NewMembership { user_id, role })
            .await
        {
            Ok(_) => tx.commit().await.map_err(transient),
            // Already a member: nothing to write.
            Err(tenant::sqlx::Error::Conflict { .. }) => tx.rollback().await.map_err(transient),
            Err(error) => Err(transient(error)),
        }
    }

    /// Sets the tenant's provisioning state, in the tenant's schema.
    #[activity]
    pub async fn update_tenant_status(
        self: Arc<Self>,
        actx: ActivityContext,
        ctx: TenantCtx,
        state: String,
    ) -> Result<String, ActivityError> {
        self.journal.record(&actx, Some(&ctx));
        let patch = TenantStatusPatch {
            state: Some(state.clone()),
            ..Default::default()
        };
        let mut tx = begin_in_schema(&self.pool, &ctx).await?;
        let updated = tx
            .repo::<TenantStatus>()
            .update(&ctx, 1, patch)
            .await
            .map_err(transient)?;
        if updated == 0 {
            return Err(permanent("the tenant has not been migrated"));
        }
        tx.commit().await.map_err(transient)?;
        Ok(state)
    }

    /// Deactivates the tenant in the registry: its requests stop resolving.
    #[activity]
    pub async fn soft_delete_tenant(
        self: Arc<Self>,
        actx: ActivityContext,
        ctx: TenantCtx,
    ) -> Result<bool, ActivityError> {
        self.journal.record(&actx, Some(&ctx));
        self.registry
            .deactivate(ctx.tenant_id())
            .await
            .map_err(transient)
    }

    /// Drops the schema of a tenant the registry has deactivated, with everything in it, and
    /// returns its name. Idempotent: a retry finds it gone. A system activity: no claim of a
    /// deactivated tenant is ever verified, so the offboarding job acts for it with an audited
    /// reason, after the registry confirmed it is deactivated, on the schema the registry names.
    #[activity(system = "offboarding: drop the schema of a deactivated tenant")]
    pub async fn drop_tenant_schema(
        self: Arc<Self>,
        actx: ActivityContext,
        sys: SystemCtx,
        tenant_id: TenantId,
    ) -> Result<String, ActivityError> {
        self.journal.record(&actx, None);
        let tenant = self
            .registry
            .find_by_id(&tenant_id)
            .await
            .map_err(transient)?
            .ok_or_else(|| permanent("no such tenant"))?;
        if tenant.is_active {
            return Err(permanent("refusing to drop the schema of an active tenant"));
        }
        self.schema
            .drop(&sys, &self.pool, &tenant.schema_name)
            .await
            .map_err(transient)?;
        Ok(tenant.schema_name.to_string())
    }

    /// The tenants the registry has deactivated whose schema still exists (offboarding that has
    /// not dropped it yet, or failed to), by id.
    #[activity(system = "system-wide cleanup: find deactivated tenants whose schema still exists")]
    pub async fn system_cleanup(
        self: Arc<Self>,
        actx: ActivityContext,
        sys: SystemCtx,
    ) -> Result<Vec<String>, ActivityError> {
        self.journal.record(&actx, None);
        sys.audit("find_stale_schemas", "tenants");
        // The registry's table, in the pool's default schema, against the database's schemas.
        sqlx::query_scalar(
            "SELECT t.id FROM tenants t \
             JOIN pg_catalog.pg_namespace n ON n.nspname = t.schema_name \
             WHERE NOT t.is_active ORDER BY t.id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|error| transient(error.into()))
    }
}

/// The provisioning workflow's input: the tenant, as a claim each activity's worker verifies,
/// and its first user.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvisionRequest {
    pub ctx: TenantClaim,
    pub owner: String,
}

/// What provisioning did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProvisionReport {
    pub info: TenantInfo,
    pub schema_version: u32,
    pub state: String,
}

#[workflow]
#[derive(Default)]
pub struct ProvisionTenant;

#[workflow_methods]
impl ProvisionTenant {
    #[run]
    pub async fn run(
        wf: &mut WorkflowContext<Self>,
        request: WorkflowInput<ProvisionRequest>,
    ) -> WorkflowResult<ProvisionReport> {
        // A payload that does not decode ends the workflow with a typed, non-retryable failure
        // instead of a workflow task the server retries for ever.
        let ProvisionRequest { ctx, owner } = request.open()?;
        // Routing is a pure function of the context, so replay computes the same options.
        let options = activity_route(&ctx).activity_options(ACTIVITY_TIMEOUT);
        let info = wf
            .execute_activity(
                Provisioning::get_tenant_info,
                GetTenantInfoInput { ctx: ctx.clone() },
                options.clone(),
            )
            .await?;
        let schema_version = wf
            .execute_activity(
                Provisioning::run_tenant_migrations,
                RunTenantMigrationsInput {
                    ctx: ctx.clone(),
                    target_version: SCHEMA_VERSION,
                },
                options.clone(),
            )
            .await?;
        wf.execute_activity(
            Provisioning::create_membership,
            CreateMembershipInput {
                ctx: ctx.clone(),
                user_id: owner,
                role: "owner".into(),
            },
            options.clone(),
        )
        .await?;
        let state = wf
            .execute_activity(
                Provisioning::update_tenant_status,
                UpdateTenantStatusInput {
                    ctx,
                    state: "active".into(),
                },
                options,
            )
            .await?;
        Ok(ProvisionReport {
            info,
            schema_version,
            state,
        })
    }
}

/// What offboarding did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OffboardReport {
    pub deactivated: bool,
    /// Deactivated tenants whose schema still exists, seen by the system cleanup before the
    /// tenant's schema went.
    pub stale_before_drop: Vec<String>,
    /// The schema dropped.
    pub dropped_schema: String,
}

#[workflow]
#[derive(Default)]
pub struct OffboardTenant;

#[workflow_methods]
impl OffboardTenant {
    #[run]
    pub async fn run(
        wf: &mut WorkflowContext<Self>,
        ctx: TenantClaim,
    ) -> WorkflowResult<OffboardReport> {
        let options = activity_route(&ctx).activity_options(ACTIVITY_TIMEOUT);
        let deactivated = wf
            .execute_activity(
                Provisioning::soft_delete_tenant,
                SoftDeleteTenantInput { ctx: ctx.clone() },
                options.clone(),
            )
            .await?;
        let system_options =
            tenant::temporal::system_activity_options(system_queue(), ACTIVITY_TIMEOUT);
        let stale_before_drop = wf
            .execute_activity(
                Provisioning::system_cleanup,
                SystemCleanupInput {},
                system_options.clone(),
            )
            .await?;
        let dropped_schema = wf
            .execute_activity(
                Provisioning::drop_tenant_schema,
                DropTenantSchemaInput {
                    tenant_id: ctx.tenant_id().clone(),
                },
                system_options,
            )
            .await?;
        Ok(OffboardReport {
            deactivated,
            stale_before_drop,
            dropped_schema,
        })
    }
}

/// A call the typed API cannot express: `payload` handed to `activity` as it is, on
/// `task_queue` with `fairness_key` (none: the task carries no priority of its own). The test
/// uses it to play a buggy or hostile workflow.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RawCall {
    pub activity: String,
    pub payload: serde_json::Value,
    pub task_queue: String,
    pub fairness_key: Option<String>,
}

/// How a [`RawCall`] ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RawOutcome {
    pub completed: bool,
    pub failure_type: Option<String>,
    pub non_retryable: bool,
    pub message: String,
}

#[workflow]
#[derive(Default)]
pub struct ForwardRaw;

#[workflow_methods]
impl ForwardRaw {
    #[run]
    pub async fn run(wf: &mut WorkflowContext<Self>, call: RawCall) -> WorkflowResult<RawOutcome> {
        use temporalio_common::data_converters::{PayloadConverter, RawValue};
        let input = RawValue::from_value(&call.payload, &PayloadConverter::default());
        let priority = match call.fairness_key {
            Some(key) => temporalio_common::Priority::builder()
                .fairness_key(key)
                .build(),
            None => temporalio_common::Priority::default(),
        };
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

/// Connects to the Temporal frontend at `address` (`host:port`).
pub async fn connect(address: &str) -> Result<Client, Box<dyn std::error::Error>> {
    let url: temporalio_client::Url = format!("http://{address}").parse()?;
    let connection = Connection::connect(
        ConnectionOptions::new(url)
            .identity("tenant-provisioning".to_owned())
            .build(),
    )
    .await?;
    Ok(Client::new(
        connection,
        ClientOptions::new(NAMESPACE).build(),
    )?)
}

/// One worker per task queue, each with the workflows and the activities registered.
pub fn workers(
    runtime: &temporalio_sdk::Runtime,
    client: &Client,
    activities: &Provisioning,
    queues: &[String],
) -> Result<Vec<Worker>, Box<dyn std::error::Error>> {
    let mut workers = Vec::new();
    for queue in queues {
        let options = WorkerOptions::new(queue.as_str())
            .register_workflow::<ProvisionTenant>()?
            .register_workflow::<OffboardTenant>()?
            .register_workflow::<ForwardRaw>()?
            .register_activities(activities.clone())
            .build();
        workers.push(Worker::new(runtime, client.clone(), options)?);
    }
    Ok(workers)
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

/// Runs one worker per task queue while `body` runs, then shuts them down and waits for them.
pub async fn with_workers<T>(
    client: &Client,
    activities: &Provisioning,
    body: impl Future<Output = Result<T, Box<dyn std::error::Error>>>,
) -> Result<T, Box<dyn std::error::Error>> {
    let runtime = temporalio_sdk::Runtime::from_current_tokio(Default::default())?;
    let mut workers = workers(&runtime, client, activities, &all_task_queues())?;
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
