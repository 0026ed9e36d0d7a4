//! The activities: a tenant's schema, tables and rows, and the registry, each verified for its
//! tenant before it runs.

// The Temporal SDK's `#[activities]` (which `#[tenant::activities]` wraps) and
// `#[workflow_methods]` add public associated constants without docs, in impls of their own.
#![allow(missing_docs)]

use std::error::Error;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::{PgPool, Postgres};
use temporalio_common::error::ApplicationFailure;
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use tenant::sqlx::{NewTenant, SqlRegistry, TenantSchema, TenantTx};
use tenant::temporal::{InputVerifier, TenantActivities};
use tenant::{
    ProvisionCtx, SignedClaim, SigningKeys, SystemCtx, SystemToken, TenancyConfig, TenantClaim,
    TenantCtx, TenantId, TenantRegistry, tenant_scoped,
};

use crate::{CLAIM_LIFETIME, Fleet, HEARTBEAT_EVERY, OffboardRequest, ProvisionRequest};

/// The reason of [`Provisioning::system_cleanup`]: a system token for it names this.
pub const CLEANUP_REASON: &str =
    "system-wide cleanup: find deactivated tenants whose schema still exists";
/// The reason of [`Provisioning::drop_tenant_schema`].
pub const DROP_SCHEMA_REASON: &str = "offboarding: drop the schema of a deactivated tenant";

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

/// A document of the tenant's: the parent of [`Comment`], which a move copies first.
#[tenant_scoped(table = "documents")]
#[derive(Debug, Clone)]
pub struct Document {
    /// Chosen by the application.
    #[key]
    pub id: i64,
    /// The tenant.
    #[tenant]
    pub tenant_id: TenantId,
    /// Its title.
    pub title: String,
}

/// A comment on a [`Document`] of the same tenant (a composite foreign key).
#[tenant_scoped(table = "comments")]
#[derive(Debug, Clone)]
pub struct Comment {
    /// Chosen by the application.
    #[key]
    pub id: i64,
    /// The tenant.
    #[tenant]
    pub tenant_id: TenantId,
    /// The document.
    #[belongs_to(Document)]
    pub document_id: i64,
    /// What it says.
    pub body: String,
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
        .entity::<Comment>()
        .entity::<Document>()
        .migration(APP_MIGRATION)
        .table("settings")
}

/// The tables a move copies: every entity of [`tenant_schema`] (the migration's `settings`
/// has no tenant column: it is made again at the target, as the migration says).
pub fn move_tables() -> tenant::sqlx::TenantCopy {
    tenant::sqlx::TenantCopy::new()
        .entity::<Membership>()
        .entity::<TenantStatus>()
        .entity::<Comment>()
        .entity::<Document>()
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

/// A failure worth retrying (a database hiccup); a schema that is not ours, or holds what we
/// do not know, is not one: a retry would find it the same.
fn transient(error: tenant::sqlx::Error) -> ActivityError {
    use tenant::sqlx::Error;
    match error {
        Error::ForeignSchema { .. } | Error::SchemaNotEmpty { .. } => permanent(error.to_string()),
        error => ActivityError::application(ApplicationFailure::new(error)),
    }
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
    /// The claim keys: the worker verifies with them, and this process, which starts the
    /// workflows too, signs with them.
    keys: Arc<SigningKeys>,
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
    /// the example's fleet, with the claim keys `keys`.
    pub async fn new(pool: PgPool, keys: SigningKeys) -> Result<Self, tenant::sqlx::Error> {
        Self::for_fleet(Fleet::default(), pool, keys).await
    }

    /// The same, for the workers of `fleet`: activity inputs are verified with `keys`, for the
    /// fleet's audience, against its routes.
    pub async fn for_fleet(
        fleet: Fleet,
        pool: PgPool,
        keys: SigningKeys,
    ) -> Result<Self, tenant::sqlx::Error> {
        let registry = SqlRegistry::new(pool.clone());
        registry.migrate().await?;
        let keys = Arc::new(keys);
        let verifier = InputVerifier::new(
            Arc::new(registry.clone()),
            TenancyConfig::default(),
            fleet.routing().clone(),
            Arc::clone(&keys),
        );
        Ok(Provisioning {
            pool,
            registry,
            schema: tenant_schema(),
            verifier,
            keys,
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

    /// The starter's side: a claim for `tenant`, signed for this fleet with the current claim
    /// key, valid for [`CLAIM_LIFETIME`]. Minted from the context the registry gives (the tenant
    /// must exist and be active), never from the caller's word.
    pub async fn sign_claim(&self, tenant: &TenantId) -> Result<SignedClaim, Box<dyn Error>> {
        let ctx = TenantClaim::new(tenant.clone())
            .verify(&self.registry, &TenancyConfig::default())
            .await?;
        Ok(SignedClaim::sign(
            &ctx,
            &self.keys,
            &self.fleet.routing().audience(),
            CLAIM_LIFETIME,
        )?)
    }

    /// The input of [`ProvisionTenant`](crate::ProvisionTenant) for `tenant`, its claim signed.
    pub async fn provision_request(
        &self,
        tenant: &TenantId,
        owner: impl Into<String>,
    ) -> Result<ProvisionRequest, Box<dyn Error>> {
        Ok(ProvisionRequest {
            ctx: self.sign_claim(tenant).await?,
            owner: owner.into(),
        })
    }

    /// The input of [`OffboardTenant`](crate::OffboardTenant) for `tenant`: its signed claim, and
    /// a system token for each system activity the workflow runs, each minted from an audited
    /// `SystemCtx` of that activity's reason.
    pub async fn offboard_request(
        &self,
        tenant: &TenantId,
    ) -> Result<OffboardRequest, Box<dyn Error>> {
        let audience = self.fleet.routing().audience();
        let token = |reason: &'static str| -> Result<SystemToken, Box<dyn Error>> {
            let sys = SystemCtx::new(reason)?;
            Ok(SystemToken::sign(
                &sys,
                &self.keys,
                &audience,
                CLAIM_LIFETIME,
            )?)
        };
        Ok(OffboardRequest {
            ctx: self.sign_claim(tenant).await?,
            cleanup: token(CLEANUP_REASON)?,
            drop_schema: token(DROP_SCHEMA_REASON)?,
        })
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
        // the provisioning capability, audited, minted here for the verified tenant's own schema
        // only.
        let provision = ProvisionCtx::new("provisioning: create the tenant's schema")
            .map_err(|error| permanent(error.to_string()))?;
        self.schema
            .create(&provision, &self.pool, ctx.schema_name())
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
        // Dropping a schema is DDL, which the activity's cross-tenant `SystemCtx` does not
        // allow: the provisioning capability, for the same audited reason.
        let provision = ProvisionCtx::new(sys.reason()).map_err(|e| permanent(e.to_string()))?;
        self.schema
            .drop(&provision, &self.pool, &tenant.schema_name)
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
