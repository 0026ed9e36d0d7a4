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
//! typed `TenantCtx` in its input; those that work across tenants are system activities with an
//! audited `SystemCtx`. Workflows route every activity with the fleet's `Routing`: the tenant's
//! shard picks the task queue, and the priority carries fairness_key = tenant and
//! fairness_weight = plan weight, set explicitly on each activity.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::{PgPool, Postgres};
use temporalio_client::{Client, ClientOptions, Connection, ConnectionOptions};
use temporalio_common::error::ApplicationFailure;
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use temporalio_sdk::{Worker, WorkerOptions, WorkflowContext, WorkflowResult};
use tenant::TenancyConfig;
use tenant::routing::{QueueKind, Route, Routing, task_queue_name};
use tenant::sqlx::{NewTenant, SqlRegistry, TenantSchema, TenantTx};
use tenant::temporal::{InputVerifier, RouteExt, TenantActivities, WorkflowInput};
use tenant::{Plan, SystemCtx, TenantClaim, TenantCtx, TenantId, TenantRegistry, tenant_scoped};

/// The Temporal namespace of the example's workers and workflows.
pub const NAMESPACE: &str = "default";
/// The task queue prefix of the example's fleet.
pub const QUEUE_PREFIX: &str = "provisioning";
/// The shards of each kind of task queue.
pub const SHARDS: NonZeroU32 = NonZeroU32::new(2).unwrap();
/// The schema version `run_tenant_migrations` brings a tenant to.
pub const SCHEMA_VERSION: u32 = 3;
const ACTIVITY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the migrations activity may go without a heartbeat. Without it, a worker that dies
/// mid-migration is noticed only when the start-to-close timeout runs out; with it, within
/// seconds, and the migration is retried on another worker.
pub const MIGRATION_HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the migrations activity heartbeats while it works: well within the timeout.
const HEARTBEAT_EVERY: Duration = Duration::from_millis(500);

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

    /// Where the activities of a claimed tenant run: workflow code holds claims, never contexts.
    pub fn activity_route(&self, claim: &TenantClaim) -> Route {
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
    fn of_workflow<W>(wf: &WorkflowContext<W>) -> Result<Fleet, ApplicationFailure> {
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
pub fn activity_route(claim: &TenantClaim) -> Route {
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

/// A user's role in a tenant, in the tenant's schema.
#[tenant_scoped(table = "memberships")]
#[derive(Debug, Clone)]
pub struct Membership {
    /// The user.
    #[key]
    pub user_id: String,
    /// The tenant.
    #[tenant]
    pub tenant_id: TenantId,
    /// `owner`, `member`, ..
    pub role: String,
}

/// The tenant's provisioning state, one row (id 1) in the tenant's schema.
#[tenant_scoped(table = "tenant_status")]
#[derive(Debug, Clone)]
pub struct TenantStatus {
    /// Always 1.
    #[key]
    pub id: i64,
    /// The tenant.
    #[tenant]
    pub tenant_id: TenantId,
    /// `migrated`, then `active`.
    pub state: String,
    /// The version `run_tenant_migrations` brought the schema to.
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
/// [`Provisioning::with_observer`] is handed one per attempt, before the body runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActivityRecord {
    /// The activity type.
    pub activity: String,
    /// `None` for a system activity.
    pub tenant: Option<String>,
    /// The workflow that scheduled it.
    pub workflow_id: Option<String>,
    /// The task queue the task came through.
    pub task_queue: String,
    /// The task's fairness key.
    pub fairness_key: Option<String>,
    /// The task's fairness weight.
    pub fairness_weight: Option<f32>,
    /// 1 for the first attempt; a retry (after a failure, or a worker that died) counts up.
    pub attempt: u32,
    /// The worker process that ran the attempt: [`worker_identity`].
    pub worker: String,
}

/// This process's identity as a Temporal worker (the server records it on every task the
/// process takes): `{pid}@tenant-provisioning`, the shape of the SDKs' default `{pid}@{host}`.
pub fn worker_identity() -> String {
    format!("{}@tenant-provisioning", std::process::id())
}

/// What the activities hand each [`ActivityRecord`] to: see [`Provisioning::with_observer`].
pub type Observer = Arc<dyn Fn(&ActivityRecord) + Send + Sync>;

/// What `actx`'s attempt saw, for the tenant `tenant` (`None`: a system activity).
fn record_of(actx: &ActivityContext, tenant: Option<&TenantCtx>) -> ActivityRecord {
    let info = actx.info();
    ActivityRecord {
        activity: info.activity_type.clone(),
        tenant: tenant.map(|ctx| ctx.tenant_id().to_string()),
        workflow_id: info.workflow_id.clone(),
        task_queue: info.task_queue.clone(),
        fairness_key: info.priority.fairness_key.clone(),
        fairness_weight: info.priority.fairness_weight,
        attempt: info.attempt,
        worker: worker_identity(),
    }
}

/// What `get_tenant_info` reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TenantInfo {
    /// The tenant's id.
    pub tenant_id: String,
    /// Its plan.
    pub plan: String,
    /// Its schema.
    pub schema_name: String,
    /// Whether it is active.
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

/// Tells the server the activity is alive (the SDK throttles what it sends). A heartbeat that
/// cannot be encoded is not a reason to fail a migration: the heartbeat timeout will say.
async fn heartbeat(actx: &ActivityContext) {
    let _ = actx.record_heartbeat(()).await;
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
    observer: Option<Observer>,
    fleet: Fleet,
    /// How long the migration's data step takes; see [`Provisioning::with_slow_migrations`].
    migration_work: Duration,
}

impl TenantActivities for Provisioning {
    fn input_verifier(&self) -> &InputVerifier {
        &self.verifier
    }
}

impl Provisioning {
    /// Opens the registry on `pool`, in its default schema (creating its table if absent), for
    /// the example's fleet.
    pub async fn new(pool: PgPool) -> Result<Self, tenant::sqlx::Error> {
        Self::for_fleet(Fleet::default(), pool).await
    }

    /// The same, for the workers of `fleet`: tenant activity inputs are verified against its
    /// routes.
    pub async fn for_fleet(fleet: Fleet, pool: PgPool) -> Result<Self, tenant::sqlx::Error> {
        let registry = SqlRegistry::new(pool.clone());
        registry.migrate().await?;
        let verifier = InputVerifier::new(Arc::new(registry.clone()), TenancyConfig::default())
            .with_routing(fleet.routing().clone());
        Ok(Provisioning {
            pool,
            registry,
            schema: tenant_schema(),
            verifier,
            observer: None,
            fleet,
            migration_work: Duration::ZERO,
        })
    }

    /// Hands `observer` what each activity attempt saw (its tenant, task queue and priority),
    /// before the body runs: the example prints it, and the tests check routing with it.
    pub fn with_observer(
        mut self,
        observer: impl Fn(&ActivityRecord) + Send + Sync + 'static,
    ) -> Self {
        self.observer = Some(Arc::new(observer));
        self
    }

    /// Makes the data step of every migration take `work` (heartbeating as it goes), as a
    /// backfill of a big tenant would: the worker-kill test uses it to catch a worker in the
    /// middle of a tenant activity.
    pub fn with_slow_migrations(mut self, work: Duration) -> Self {
        self.migration_work = work;
        self
    }

    /// The fleet whose task queues these activities are verified against.
    pub fn fleet(&self) -> &Fleet {
        &self.fleet
    }

    fn observe(&self, actx: &ActivityContext, tenant: Option<&TenantCtx>) {
        if let Some(observer) = &self.observer {
            observer(&record_of(actx, tenant));
        }
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

    /// The database pool.
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
        self.observe(&actx, Some(&ctx));
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
        self.observe(&actx, Some(&ctx));
        heartbeat(&actx).await;
        // Creating a schema is DDL on the database, not a data operation of the tenant: it takes
        // a system context, audited, minted here for the verified tenant's own schema only.
        let sys = SystemCtx::new("provisioning: create the tenant's schema")
            .map_err(|error| permanent(error.to_string()))?;
        self.schema
            .create(&sys, &self.pool, ctx.schema_name())
            .await
            .map_err(transient)?;
        heartbeat(&actx).await;
        // The data step: a worker that dies here leaves the schema created and the status
        // unwritten, which the retry, on another worker, finds and completes.
        let mut worked = Duration::ZERO;
        while worked < self.migration_work {
            let step = HEARTBEAT_EVERY.min(self.migration_work - worked);
            tokio::time::sleep(step).await;
            worked += step;
            heartbeat(&actx).await;
        }
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
        self.observe(&actx, Some(&ctx));
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
        self.observe(&actx, Some(&ctx));
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
        self.observe(&actx, Some(&ctx));
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
        self.observe(&actx, None);
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
        self.observe(&actx, None);
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
    /// The tenant.
    pub ctx: TenantClaim,
    /// Its first user, who becomes its owner.
    pub owner: String,
}

/// What provisioning did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProvisionReport {
    /// The registry's record of the tenant.
    pub info: TenantInfo,
    /// The version its schema was migrated to.
    pub schema_version: u32,
    /// Its provisioning state at the end.
    pub state: String,
}

/// Provisions a tenant: its schema, tables and migration, its owner, its state.
#[workflow]
#[derive(Default)]
pub struct ProvisionTenant;

#[workflow_methods]
impl ProvisionTenant {
    /// Runs each step as an activity on the tenant's route, in the workflow's fleet.
    #[run]
    pub async fn run(
        wf: &mut WorkflowContext<Self>,
        request: WorkflowInput<ProvisionRequest>,
    ) -> WorkflowResult<ProvisionReport> {
        // A payload that does not decode ends the workflow with a typed, non-retryable failure
        // instead of a workflow task the server retries for ever.
        let ProvisionRequest { ctx, owner } = request.open()?;
        // Routing is a pure function of the context and the workflow's own task queue, so
        // replay computes the same options.
        let options = Fleet::of_workflow(wf)?
            .activity_route(&ctx)
            .activity_options(ACTIVITY_TIMEOUT);
        let mut migration_options = options.clone();
        migration_options.heartbeat_timeout = Some(MIGRATION_HEARTBEAT_TIMEOUT);
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
                migration_options,
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
    /// Whether the tenant was active until now.
    pub deactivated: bool,
    /// Deactivated tenants whose schema still exists, seen by the system cleanup before the
    /// tenant's schema went.
    pub stale_before_drop: Vec<String>,
    /// The schema dropped.
    pub dropped_schema: String,
}

/// Offboards a tenant: deactivates it, then drops its schema as system work.
#[workflow]
#[derive(Default)]
pub struct OffboardTenant;

#[workflow_methods]
impl OffboardTenant {
    /// Deactivates on the tenant's route; the schema goes on the fleet's system queue.
    #[run]
    pub async fn run(
        wf: &mut WorkflowContext<Self>,
        ctx: TenantClaim,
    ) -> WorkflowResult<OffboardReport> {
        let fleet = Fleet::of_workflow(wf)?;
        let options = fleet
            .activity_route(&ctx)
            .activity_options(ACTIVITY_TIMEOUT);
        let deactivated = wf
            .execute_activity(
                Provisioning::soft_delete_tenant,
                SoftDeleteTenantInput { ctx: ctx.clone() },
                options.clone(),
            )
            .await?;
        let system_options =
            tenant::temporal::system_activity_options(fleet.system_queue(), ACTIVITY_TIMEOUT);
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
        .register_activities(activities.clone())
        .build())
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
