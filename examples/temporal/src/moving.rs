//! Moving a tenant between placements online: the [`MoveTenant`] workflow and its activities
//! ([`Mover`]), on PostgreSQL databases named by a [`PoolSet`].
//!
//! Each step is a system activity (a move reads one database and writes another, and switches
//! the registry: no tenant's own context may do that), run on the fleet's system queue for a
//! system token of [`MOVE_REASON`] the starter signed. Every step is idempotent, and each
//! checks the registry first, so a step run again after a worker died, or after the switch,
//! finds its work done and does nothing wrong:
//!
//! 1. `move_prepare`: the target's tables (its schema, or its own database's tables, with the
//!    application's migrations), and its placement table holding the tenant, fenced;
//! 2. `move_fence`: the source refuses the tenant's transactions, and the step returns once
//!    none is running there ([`PlacementFence::fence`]);
//! 3. `move_copy`: the tenant's rows, parents first, into a cleaned target, in one transaction;
//! 4. `move_verify`: per table, row count and checksum on both sides;
//! 5. `move_switch`: the registry, compare-and-set, then the source forgets the tenant: a
//!    process whose cache still routes there gets `Moved` and refreshes;
//! 6. `move_notify`: a signed [`PlacementChanged`] event on the Redis stream, which every
//!    process's consumer verifies and answers by dropping the tenant from its registry cache
//!    (without it, caches converge within their TTL, and `Moved` refreshes a stale one);
//! 7. `move_unfence`: the target takes the tenant's transactions;
//! 8. after the grace period, `move_cleanup`: the source's rows go.
//!
//! A verification that fails ends in `move_abort` before the switch: the target forgets the
//! tenant and the source takes its transactions again; nothing was lost.

// The Temporal SDK's `#[activities]` (which `#[tenant::activities]` wraps) and
// `#[workflow_methods]` add public associated constants without docs, in impls of their own.
#![allow(missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::Postgres;
use temporalio_common::error::ApplicationFailure;
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use temporalio_sdk::{WorkflowContext, WorkflowResult};
use tenant::redis::{EventStream, TenantEvent};
use tenant::sqlx::{
    PlacementFence, PoolSet, SqlRegistry, Switch, TableSum, TablesAt, TenantCopy, TenantSchema,
};
use tenant::temporal::{InputVerifier, RouteExt, TenantActivities, WorkflowInput};
use tenant::{
    Placement, ProvisionCtx, SignedClaim, SigningKeys, SystemCtx, SystemToken, TenancyConfig,
    TenantClaim, TenantCtx, TenantId, TenantRegistry, Tier,
};

use crate::{CLAIM_LIFETIME, Fleet};

/// The reason of every move activity: a system token for a move names this.
pub const MOVE_REASON: &str = "moving a tenant between placements";
/// How long a move step may take before the server retries it elsewhere.
pub const MOVE_STEP_TIMEOUT: Duration = Duration::from_secs(600);
/// How long a step may go without a heartbeat. Every step heartbeats while it works
/// (every half second, and the copy after each batch as well), so a
/// step that waits, for a database that is down or for the transactions the fence drains, is
/// still the one attempt: were it timed out, the server would start another attempt beside it,
/// and the two would write the same target at once.
pub const MOVE_HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(5);

/// The move workflow's input.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MoveRequest {
    /// The tenant.
    pub tenant_id: TenantId,
    /// Where the registry places it now (`label/tier`): the switch is a compare-and-set on it.
    pub from: String,
    /// Where it goes.
    pub to: String,
    /// How long the source's rows stay after the switch, in seconds.
    pub grace_secs: u64,
    /// For the move's system activities ([`MOVE_REASON`]).
    pub sys: SystemToken,
    /// The tenant, for the event that tells every process (a tenant activity).
    pub ctx: SignedClaim,
}

/// The event a move publishes after the switch: the tenant's new placement. A consumer drops
/// the tenant from its registry cache; the placement itself is read from the registry again,
/// never taken from the event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlacementChanged {
    /// `label/tier`, as the registry stores it.
    pub placement: String,
}

/// The stream the move publishes [`PlacementChanged`] on.
pub type Events = EventStream<redis::aio::MultiplexedConnection>;

/// What a move did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MoveReport {
    /// Rows copied.
    pub copied: u64,
    /// What both sides held, per table, when verified.
    pub verified: Vec<TableSum>,
    /// Rows deleted at the source after the grace period.
    pub deleted: u64,
}

/// Moves a tenant from one placement to another while the service runs.
#[workflow]
#[derive(Default)]
pub struct MoveTenant;

#[workflow_methods]
impl MoveTenant {
    /// Runs each step on the fleet's system queue.
    #[run]
    pub async fn run(
        wf: &mut WorkflowContext<Self>,
        request: WorkflowInput<MoveRequest>,
    ) -> WorkflowResult<MoveReport> {
        let request = request.open()?;
        let fleet = Fleet::of_workflow(wf)?;
        let options =
            tenant::temporal::system_activity_options(fleet.system_queue(), MOVE_STEP_TIMEOUT);
        let mut options = options;
        // Every step heartbeats (the copy after each batch): a worker that dies in one is
        // noticed within seconds, and the step runs again on another.
        options.heartbeat_timeout = Some(MOVE_HEARTBEAT_TIMEOUT);
        let step = |step: MoveStep| MoveStepInput {
            sys: request.sys.clone(),
            step,
            tenant_id: request.tenant_id.clone(),
            from: request.from.clone(),
            to: request.to.clone(),
        };
        wf.execute_activity(Mover::move_step, step(MoveStep::Prepare), options.clone())
            .await?;
        wf.execute_activity(Mover::move_step, step(MoveStep::Fence), options.clone())
            .await?;
        let copied = wf
            .execute_activity(Mover::move_step, step(MoveStep::Copy), options.clone())
            .await?;
        let verified = wf
            .execute_activity(Mover::move_step, step(MoveStep::Verify), options.clone())
            .await;
        let verified = match verified {
            Ok(outcome) => outcome,
            Err(error) => {
                wf.execute_activity(Mover::move_step, step(MoveStep::Abort), options.clone())
                    .await?;
                return Err(error.into());
            }
        };
        wf.execute_activity(Mover::move_step, step(MoveStep::Switch), options.clone())
            .await?;
        // On the tenant's route: the event is the tenant's, from its verified context.
        let tenant_options = fleet
            .activity_route(&request.ctx)
            .activity_options(MOVE_STEP_TIMEOUT);
        wf.execute_activity(
            Mover::move_notify,
            MoveNotifyInput {
                ctx: request.ctx.clone(),
            },
            tenant_options,
        )
        .await?;
        wf.execute_activity(Mover::move_step, step(MoveStep::Unfence), options.clone())
            .await?;
        wf.timer(Duration::from_secs(request.grace_secs)).await;
        let deleted = wf
            .execute_activity(Mover::move_step, step(MoveStep::Cleanup), options)
            .await?;
        Ok(MoveReport {
            copied: copied.rows,
            verified: verified.sums,
            deleted: deleted.rows,
        })
    }
}

/// A step of a move: what [`Mover::move_step`] does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MoveStep {
    /// The target's tables, and its placement table holding the tenant, fenced.
    Prepare,
    /// The source refuses the tenant's transactions, none running.
    Fence,
    /// The rows, into a cleaned target.
    Copy,
    /// Counts and checksums on both sides.
    Verify,
    /// The registry, then the source's placement table.
    Switch,
    /// The target takes the tenant's transactions.
    Unfence,
    /// The source's rows go.
    Cleanup,
    /// Before the switch only: the target forgets the tenant, the source takes it again.
    Abort,
}

impl MoveStep {
    /// The step's name in audit events: `move_prepare`, `move_fence`, ..
    pub fn as_str(self) -> &'static str {
        match self {
            MoveStep::Prepare => "move_prepare",
            MoveStep::Fence => "move_fence",
            MoveStep::Copy => "move_copy",
            MoveStep::Verify => "move_verify",
            MoveStep::Switch => "move_switch",
            MoveStep::Unfence => "move_unfence",
            MoveStep::Cleanup => "move_cleanup",
            MoveStep::Abort => "move_abort",
        }
    }
}

/// What [`Mover::with_observer`]'s observer is told of a step attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepEvent {
    /// The attempt starts, before it works.
    Started,
    /// The attempt ended: it returned, or it was dropped unfinished.
    Ended,
}

/// The observer of step attempts: the step, the attempt, what happened.
type Observer = Arc<dyn Fn(MoveStep, u32, StepEvent) + Send + Sync>;

/// The copy's progress hook: the attempt and the rows copied so far, after each batch.
type CopyProgress =
    Arc<dyn Fn(u32, u64) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// Tells the observer that an attempt ended, however it ended (a dropped future included).
struct EndGuard<'a> {
    observer: Option<&'a (dyn Fn(MoveStep, u32, StepEvent) + Send + Sync)>,
    step: MoveStep,
    attempt: u32,
}

impl Drop for EndGuard<'_> {
    fn drop(&mut self) {
        if let Some(observer) = self.observer {
            observer(self.step, self.attempt, StepEvent::Ended);
        }
    }
}

/// Runs `work`, heartbeating every `HEARTBEAT_EVERY` (half a second) until it ends.
/// A step that waits (a pool connecting to a server that is down waits up to its acquire
/// timeout) keeps its attempt: it ends with the pool's error, which is retried, rather than
/// outliving a heartbeat timeout and running on beside the attempt the server starts next.
async fn heartbeating<T>(actx: &ActivityContext, work: impl Future<Output = T>) -> T {
    let mut work = std::pin::pin!(work);
    let mut ticks = tokio::time::interval(crate::HEARTBEAT_EVERY);
    loop {
        tokio::select! {
            done = &mut work => return done,
            // A heartbeat that cannot be sent is not a reason to fail the step: the heartbeat
            // timeout would say.
            _ = ticks.tick() => drop(actx.record_heartbeat(()).await),
        }
    }
}

/// What a step did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StepOutcome {
    /// Rows copied (`copy`) or deleted (`cleanup`).
    pub rows: u64,
    /// Both sides' sums (`verify`).
    pub sums: Vec<TableSum>,
    /// The step found its work done already (a rerun).
    pub already_done: bool,
}

/// The move's activities: the pools of every database, the registry, the tenant's tables.
#[derive(Clone)]
pub struct Mover {
    pools: PoolSet<Postgres>,
    registry: SqlRegistry<Postgres>,
    schema: TenantSchema,
    tables: TenantCopy,
    verifier: InputVerifier,
    keys: Arc<SigningKeys>,
    fleet: Fleet,
    /// How long each step waits before it works; see [`Mover::with_slow_steps`].
    step_work: Option<(MoveStep, Duration)>,
    observer: Option<Observer>,
    copy_progress: Option<CopyProgress>,
    events: Option<Events>,
}

impl TenantActivities for Mover {
    fn input_verifier(&self) -> &InputVerifier {
        &self.verifier
    }
}

impl Mover {
    /// The move activities of `fleet`'s workers: the registry on `registry`, every database in
    /// `pools`, the tenants' tables as `schema` and `tables` say, system tokens verified with
    /// `keys`.
    pub fn new(
        fleet: Fleet,
        pools: PoolSet<Postgres>,
        registry: SqlRegistry<Postgres>,
        schema: TenantSchema,
        tables: TenantCopy,
        keys: SigningKeys,
    ) -> Self {
        let keys = Arc::new(keys);
        let verifier = InputVerifier::new(
            Arc::new(registry.clone()),
            TenancyConfig::default(),
            fleet.routing().clone(),
            Arc::clone(&keys),
        );
        Mover {
            pools,
            registry,
            schema,
            tables,
            verifier,
            keys,
            fleet,
            step_work: None,
            observer: None,
            copy_progress: None,
            events: None,
        }
    }

    /// Publishes a [`PlacementChanged`] on `events` after each switch (without it, the notify
    /// step does nothing, and caches converge within their TTL).
    pub fn with_events(mut self, events: Events) -> Self {
        self.events = Some(events);
        self
    }

    /// Makes `step` take `work` before it does anything (heartbeating): the worker-kill test
    /// catches a worker in the middle of it.
    pub fn with_slow_step(mut self, step: MoveStep, work: Duration) -> Self {
        self.step_work = Some((step, work));
        self
    }

    /// Hands `observer` each step attempt (its step and attempt number) as it starts, before
    /// it works, and as it ends: the tests see which attempts ran, and whether two ran at once.
    pub fn with_observer(
        mut self,
        observer: impl Fn(MoveStep, u32, StepEvent) + Send + Sync + 'static,
    ) -> Self {
        self.observer = Some(Arc::new(observer));
        self
    }

    /// Awaits `progress(attempt, rows copied so far)` after each batch of the copy, inside its
    /// transactions: the test that stops the target server in the middle of a copy stops it
    /// there.
    pub fn with_copy_progress<F>(mut self, progress: F) -> Self
    where
        F: Fn(u32, u64) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>>
            + Send
            + Sync
            + 'static,
    {
        self.copy_progress = Some(Arc::new(progress));
        self
    }

    /// The input of [`MoveTenant`] for `tenant`, from where the registry places it now to `to`,
    /// its system token signed for this fleet.
    pub async fn move_request(
        &self,
        tenant: &TenantId,
        to: &Placement,
        grace: Duration,
    ) -> Result<MoveRequest, Box<dyn std::error::Error>> {
        let record = self
            .registry
            .find_by_id(tenant)
            .await?
            .ok_or("no such tenant")?;
        let sys = SystemCtx::new(MOVE_REASON)?;
        let audience = self.fleet.routing().audience();
        let ctx = TenantClaim::new(tenant.clone())
            .verify(&self.registry, &TenancyConfig::default())
            .await?;
        Ok(MoveRequest {
            ctx: SignedClaim::sign(&ctx, &self.keys, &audience, CLAIM_LIFETIME)?,
            tenant_id: tenant.clone(),
            from: record.placement.to_string(),
            to: to.to_string(),
            grace_secs: grace.as_secs(),
            sys: SystemToken::sign(
                &sys,
                &self.keys,
                &self.fleet.routing().audience(),
                CLAIM_LIFETIME,
            )?,
        })
    }

    /// Where `tenant`'s tables are at `placement`.
    fn side<'a>(
        &self,
        pool: &'a sqlx::PgPool,
        placement: &Placement,
        schema: &'a tenant::SchemaName,
    ) -> TablesAt<'a> {
        TablesAt {
            pool,
            schema: (placement.tier() == Tier::Schema).then_some(schema),
        }
    }

    /// The work of one step attempt (see [`Mover::move_step`]).
    async fn work(
        &self,
        actx: &ActivityContext,
        step: MoveStep,
        move_id: &str,
        tenant_id: &TenantId,
        from: &Placement,
        to: &Placement,
    ) -> Result<StepOutcome, ActivityError> {
        let attempt = actx.info().attempt;
        let record = self
            .registry
            .find_by_id(tenant_id)
            .await
            .map_err(transient)?
            .ok_or_else(|| permanent("no such tenant"))?;
        let switched = &record.placement == to;
        if !switched && &record.placement != from {
            return Err(permanent(format!(
                "the registry places the tenant at {}, neither {from} nor {to}",
                record.placement
            )));
        }
        let source_pool = self
            .pools
            .unfenced_pool_at(from.database(), tenant_id)
            .map_err(transient)?;
        let target_pool = self
            .pools
            .unfenced_pool_at(to.database(), tenant_id)
            .map_err(transient)?;
        let source = PlacementFence::new(&source_pool);
        let target = PlacementFence::new(&target_pool);
        // Shared and schema tiers of one label are one database, with one placement row.
        let same_database = from.database() == to.database();
        let source_side = self.side(&source_pool, from, &record.schema_name);
        let target_side = self.side(&target_pool, to, &record.schema_name);
        let mut outcome = StepOutcome {
            already_done: switched,
            ..StepOutcome::default()
        };
        match step {
            MoveStep::Prepare if !switched => {
                let provision =
                    ProvisionCtx::new(MOVE_REASON).map_err(|e| permanent(e.to_string()))?;
                match to.tier() {
                    Tier::Schema => self
                        .schema
                        .create(&provision, &target_pool, &record.schema_name)
                        .await
                        .map_err(transient)?,
                    Tier::Database => self
                        .schema
                        .install(&provision, &target_pool)
                        .await
                        .map_err(transient)?,
                    // The shared tables are the application's, there before any tenant.
                    Tier::Shared => {}
                }
                target.install().await.map_err(transient)?;
                if !same_database {
                    target
                        .place_for_move(tenant_id, to.tier(), move_id)
                        .await
                        .map_err(transient)?;
                }
            }
            MoveStep::Fence if !switched => {
                let placed = source
                    .fence_for_move(tenant_id, move_id)
                    .await
                    .map_err(transient)?;
                if !placed {
                    return Err(permanent(
                        "the source database does not hold the tenant, or another move holds it",
                    ));
                }
            }
            MoveStep::Copy if !switched => {
                outcome.rows = self
                    .tables
                    .copy_for_move(tenant_id, move_id, source_side, target_side, |rows| {
                        let progress = self.copy_progress.clone();
                        // A heartbeat that cannot be encoded is not a reason to fail a copy:
                        // the heartbeat timeout would say.
                        async move {
                            drop(actx.record_heartbeat(()).await);
                            if let Some(progress) = progress {
                                progress(attempt, rows).await;
                            }
                        }
                    })
                    .await
                    .map_err(data_step)?;
            }
            MoveStep::Verify if !switched => {
                let at_source = self
                    .tables
                    .sums(tenant_id, source_side)
                    .await
                    .map_err(data_step)?;
                let at_target = self
                    .tables
                    .sums(tenant_id, target_side)
                    .await
                    .map_err(data_step)?;
                if at_source != at_target {
                    return Err(permanent(format!(
                        "the copy differs from the source: {at_source:?} vs {at_target:?}"
                    )));
                }
                outcome.sums = at_target;
            }
            MoveStep::Switch => {
                match self
                    .registry
                    .switch(tenant_id, from, to)
                    .await
                    .map_err(transient)?
                {
                    Switch::Switched | Switch::AlreadyThere => {}
                    Switch::Elsewhere(at) => {
                        return Err(permanent(format!(
                            "the registry moved the tenant to {at:?}"
                        )));
                    }
                }
                // Only while the source is fenced, checked by the write itself: a switch that
                // outlived its attempt must not fence again, or unplace, a tenant that the move
                // (or a later one) has let in since.
                if same_database {
                    let retiered = source
                        .retier_fenced(tenant_id, to.tier())
                        .await
                        .map_err(transient)?;
                    let state = source.state(tenant_id).await.map_err(transient)?;
                    if !retiered && state.is_none_or(|state| state.tier != to.tier()) {
                        return Err(permanent("the source does not hold the tenant fenced"));
                    }
                } else if !source.unplace_fenced(tenant_id).await.map_err(transient)?
                    && source.state(tenant_id).await.map_err(transient)?.is_some()
                {
                    return Err(permanent("the source holds the tenant, not fenced"));
                }
            }
            MoveStep::Unfence => {
                if !switched {
                    return Err(permanent("unfencing the target before the switch"));
                }
                target.unfence(tenant_id).await.map_err(transient)?;
            }
            MoveStep::Cleanup => {
                // Never the rows the registry routes to.
                if !switched {
                    return Err(permanent("deleting the source's rows before the switch"));
                }
                outcome.rows = self
                    .tables
                    .delete(tenant_id, source_side)
                    .await
                    .map_err(data_step)?;
            }
            MoveStep::Abort if !switched => {
                if same_database {
                    source
                        .place(tenant_id, from.tier(), false)
                        .await
                        .map_err(transient)?;
                } else {
                    target.unplace(tenant_id).await.map_err(transient)?;
                    source.unfence(tenant_id).await.map_err(transient)?;
                }
                self.tables
                    .delete(tenant_id, target_side)
                    .await
                    .map_err(transient)?;
            }
            // A step before the switch, run again after it: done.
            _ => {}
        }
        Ok(outcome)
    }
}

fn permanent(message: impl Into<String>) -> ActivityError {
    ActivityError::application(ApplicationFailure::non_retryable(message.into()))
}

fn transient(error: impl std::error::Error + Send + Sync + 'static) -> ActivityError {
    ActivityError::application(ApplicationFailure::new(error))
}

/// A data step's error (`TenantCopy`'s copy, sums, delete): another attempt would find the same
/// when the copy is not this move's fence's, or when the mover's role runs under row-level
/// security (which would hide the tenant's rows from every step); anything else may pass.
fn data_step(error: tenant::sqlx::Error) -> ActivityError {
    match error {
        tenant::sqlx::Error::CopyNotFenced { .. }
        | tenant::sqlx::Error::CopyUnderRowSecurity(_) => permanent(error.to_string()),
        error => transient(error),
    }
}

#[tenant::activities]
impl Mover {
    /// One step of a move (see the module's docs); idempotent.
    #[activity(system = "moving a tenant between placements")]
    pub async fn move_step(
        self: Arc<Self>,
        actx: ActivityContext,
        sys: SystemCtx,
        step: MoveStep,
        tenant_id: TenantId,
        from: String,
        to: String,
    ) -> Result<StepOutcome, ActivityError> {
        let parse = |text: &str| -> Result<Placement, ActivityError> {
            text.parse()
                .map_err(|e| permanent(format!("placement `{text}`: {e}")))
        };
        let (from, to) = (parse(&from)?, parse(&to)?);
        if from == to {
            return Err(permanent("a move needs two different placements"));
        }
        let attempt = actx.info().attempt;
        // The move's identity in the placement tables: its workflow. A step of an earlier move
        // of the tenant that outlived it finds a later move's fence, not its own.
        let move_id = actx
            .info()
            .workflow_id
            .clone()
            .ok_or_else(|| permanent("a move step outside a workflow"))?;
        if let Some(observer) = &self.observer {
            observer(step, attempt, StepEvent::Started);
        }
        let _ended = EndGuard {
            observer: self.observer.as_deref(),
            step,
            attempt,
        };
        if let Some((slow, work)) = self.step_work
            && slow == step
        {
            let mut worked = Duration::ZERO;
            while worked < work {
                tokio::time::sleep(Duration::from_millis(500)).await;
                worked += Duration::from_millis(500);
                let _ = actx.record_heartbeat(()).await;
            }
        }
        // Audited per step; the tenant is in the workflow's input and history.
        sys.audit(step.as_str(), "tenants");
        heartbeating(
            &actx,
            self.work(&actx, step, &move_id, &tenant_id, &from, &to),
        )
        .await
    }

    /// Tells every process the tenant moved: a signed [`PlacementChanged`] with the placement
    /// the registry gives the verified context (the new one: this runs after the switch).
    /// Returns whether an event was published. A rerun publishes again; consumers' handling is
    /// idempotent (they drop a cache entry).
    #[activity]
    pub async fn move_notify(
        self: Arc<Self>,
        _actx: ActivityContext,
        ctx: TenantCtx,
    ) -> Result<bool, ActivityError> {
        let Some(events) = &self.events else {
            return Ok(false);
        };
        let event = TenantEvent::new(
            &ctx,
            PlacementChanged {
                placement: ctx.placement().to_string(),
            },
        );
        events.publish(&event).await.map_err(transient)?;
        Ok(true)
    }
}
