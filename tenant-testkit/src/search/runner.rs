//! [`LeakSearch`]: generates a program, runs it on its tasks against the database and the
//! model, and shrinks a failure.

use std::any::TypeId;
use std::collections::HashMap;
use std::fmt::{self, Debug};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use tenant::sqlx::{Error, TenantTx};
use tenant::{TenantCtx, TenantId};

use super::database::{Database, SetupFn};
use super::fixture::{Driver, KitDb, On, OnBackend};
use super::op::{
    After, BoxFuture, Check, CursorBox, ErrKind, Expect, Kind, Op, Outcome, entity_of,
    outcome_class,
};
use super::report::{Failure, Mismatch, SearchReport};
use crate::model::TenantModel;
use crate::value::{Gen, tag};
use crate::{Counts, Rng, run_partitioned, shrink};

/// A checked query of yours as an operation: run as a tenant inside its transaction; its
/// result, as text (`format!("{rows:?}")`), must carry no other tenant's tag.
pub type QueryFn<DB> = Arc<
    dyn for<'a> Fn(&'a TenantCtx, &'a mut TenantTx<DB>) -> BoxFuture<'a, Result<String, Error>>
        + Send
        + Sync,
>;

/// A checked query of yours as a plain `fn` (what [`LeakSearch::query`] takes).
pub type QueryFnPtr<DB> =
    for<'a> fn(&'a TenantCtx, &'a mut TenantTx<DB>) -> BoxFuture<'a, Result<String, Error>>;

/// A model-checked search for tenant leaks over your entities and checked queries.
///
/// Random programs of repository operations (insert, get, update, delete, list, count, keyset
/// pages) and your registered queries, with keys that collide across tenants, parents and
/// cursors of other tenants, run concurrently (each tenant's ops in order on one task) against
/// a fresh [`Database`], while a model written with none of the crate's code predicts every
/// result. A difference fails the run, and so does any row or value of another tenant that
/// reaches a caller (generated text carries its tenant's tag). A failing program is shrunk by
/// delta debugging, each candidate on a fresh database, and the report prints the seed and the
/// shortest failing program.
///
/// ```
/// # use tenant::{tenant_scoped, Plan, TenantCtx, TenantId};
/// # use tenant_testkit::{Fixture, Gen};
/// # #[tenant_scoped(table = "notes")]
/// # #[derive(Debug, Clone, PartialEq)]
/// # pub struct Note { #[key] pub id: i64, #[tenant] pub tenant_id: TenantId, pub body: String }
/// # impl Fixture for Note {
/// #     fn key(&self) -> i64 { self.id }
/// #     fn tenant(&self) -> &TenantId { &self.tenant_id }
/// #     fn new_row(id: i64, g: &mut Gen<'_>) -> NewNote { NewNote { id, body: g.value() } }
/// #     fn patch(g: &mut Gen<'_>) -> NotePatch { NotePatch { body: g.value() } }
/// #     fn stored(n: &NewNote, t: &TenantId) -> Option<Note> { Some(Note { id: n.id, tenant_id: t.clone(), body: n.body.clone() }) }
/// #     fn apply(&mut self, p: &NotePatch) { if let Some(b) = &p.body { self.body.clone_from(b) } }
/// # }
/// use tenant_testkit::{Database, LeakSearch};
///
/// # #[tokio::main]
/// # async fn main() {
/// let search = LeakSearch::<sqlx::Sqlite>::new("notes on SQLite", || async {
///     // One connection: an in-memory database is per connection.
///     let pool = sqlx::sqlite::SqlitePoolOptions::new()
///         .max_connections(1)
///         .connect("sqlite::memory:")
///         .await
///         .ok()?;
///     NoteRepo::new(&pool).create_table().await.ok()?;
///     let tenants = (0..8)
///         .map(|t| TenantCtx::trusted(format!("t{t}").parse().unwrap(), format!("s{t}").parse().unwrap(), Plan::Free))
///         .collect();
///     Some(Database::new(pool, tenants))
/// })
/// .entity::<Note>();
/// // TENANT_LEAK_OPS and TENANT_LEAK_SEED override; panics with the report on a failure.
/// let report = search.check_ops(200).await.expect("SQLite is always there");
/// assert_eq!(report.counts.ops, 200);
/// assert_eq!(report.counts.leaks, 0);
/// # }
/// ```
pub struct LeakSearch<DB: KitDb> {
    name: String,
    setup: SetupFn<DB>,
    drivers: Vec<Arc<dyn Driver<DB>>>,
    index: HashMap<TypeId, usize>,
    queries: Vec<(&'static str, QueryFn<DB>)>,
    tasks: usize,
    shrink_budget: usize,
}

impl<DB: KitDb> Debug for LeakSearch<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LeakSearch")
            .field("name", &self.name)
            .field(
                "entities",
                &self.drivers.iter().map(|d| d.table()).collect::<Vec<_>>(),
            )
            .field(
                "queries",
                &self.queries.iter().map(|q| q.0).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// The task results of one run.
struct Ran {
    counts: Counts,
    first: Option<Mismatch>,
}

impl<DB: KitDb> LeakSearch<DB> {
    /// A search named `name` (reports show it) whose every run gets a fresh database from
    /// `setup`.
    pub fn new<F, Fut>(name: impl Into<String>, setup: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Option<Database<DB>>> + Send + 'static,
    {
        LeakSearch {
            name: name.into(),
            setup: Arc::new(move || Box::pin(setup())),
            drivers: Vec::new(),
            index: HashMap::new(),
            queries: Vec::new(),
            tasks: 8,
            shrink_budget: 300,
        }
    }

    /// Adds an entity's repository operations. Register parents before their children.
    pub fn entity<E: OnBackend<DB>>(mut self) -> Self {
        self.index.insert(TypeId::of::<E>(), self.drivers.len());
        self.drivers.push(E::driver().0);
        self
    }

    /// Adds a checked query of yours as an operation (a `fn` taking the context and the
    /// tenant's transaction; see [`QueryFn`]). It must succeed, and its result must carry no
    /// other tenant's tag.
    pub fn query(mut self, name: &'static str, query: QueryFnPtr<DB>) -> Self {
        let query: QueryFn<DB> = Arc::new(query);
        self.queries.push((name, query));
        self
    }

    /// Tokio tasks a program runs on at once (8 unless set).
    pub fn tasks(mut self, tasks: usize) -> Self {
        self.tasks = tasks.max(1);
        self
    }

    /// Generates a program of `n` ops over `tenants` tenants from `seed`.
    fn generate(&self, seed: u64, n: usize, tenants: usize) -> Vec<Op> {
        let mut rng = Rng::new(seed);
        let mut models = vec![TenantModel::new(self.drivers.len()); tenants];
        let mut ops = Vec::with_capacity(n);
        let dummy: TenantId = "generator".parse().expect("a valid tenant id");
        while ops.len() < n && tenants > 0 {
            let t = rng.below(tenants as u64) as usize;
            let siblings: Vec<usize> = (0..tenants)
                .filter(|&o| o != t && o % self.tasks == t % self.tasks)
                .collect();
            let in_tx = rng.chance(20);
            let slots = self.drivers.len() + usize::from(!self.queries.is_empty());
            let choice = rng.below(slots as u64) as usize;
            let (kind, cross, target) = if choice < self.drivers.len() {
                let driver = &self.drivers[choice];
                let mut g = Gen {
                    rng: &mut rng,
                    tenant: t,
                    tag: tag(t),
                    models: &models,
                    index: &self.index,
                    parents: Vec::new(),
                    cross: false,
                };
                let kind = driver.generate(choice, &mut g, &siblings);
                (kind, g.cross, driver.table())
            } else {
                let index = rng.below(self.queries.len() as u64) as usize;
                (Kind::Query { index }, false, self.queries[index].0)
            };
            if let Kind::Insert { entity, .. }
            | Kind::Update { entity, .. }
            | Kind::Delete { entity, .. } = &kind
            {
                // The generator follows the model's main branch, to choose keys that exist.
                let _ = self.drivers[*entity].settle(&mut models[t], &dummy, &kind, None);
            }
            ops.push(Op {
                tenant: t,
                // A query runs in the tenant's transaction, always.
                in_tx: in_tx || matches!(kind, Kind::Query { .. }),
                cross,
                kind,
                target,
            });
        }
        ops
    }

    /// Runs `ops` on `db` or a fresh database, `tasks` at once. `None` when setup gives none.
    async fn run_once(&self, ops: &[Op], tasks: usize, db: Option<Database<DB>>) -> Option<Ran> {
        let db = match db {
            Some(db) => db,
            None => (self.setup)().await?,
        };
        let db = Arc::new(db);
        let stop = Arc::new(AtomicBool::new(false));
        let drivers = Arc::new(self.drivers.clone());
        let queries = Arc::new(self.queries.clone());
        let results = run_partitioned(
            ops,
            tasks,
            |op| op.tenant,
            |mine| {
                run_task(
                    db.clone(),
                    drivers.clone(),
                    queries.clone(),
                    mine,
                    stop.clone(),
                )
            },
        )
        .await;
        let mut ran = Ran {
            counts: Counts::default(),
            first: None,
        };
        for (counts, first) in results {
            ran.counts.merge(&counts);
            if let Some(m) = first
                && ran.first.as_ref().is_none_or(|f| m.index < f.index)
            {
                ran.first = Some(m);
            }
        }
        if let Ok(db) = Arc::try_unwrap(db) {
            db.close().await;
        }
        Some(ran)
    }

    /// Runs a program of `n` ops from `seed`; on a failure shrinks it. `None` when the setup
    /// gives no database (the backend is not configured here).
    ///
    /// # Panics
    /// When the setup gives fewer than two tenants, or no entity was registered: the test's
    /// own mistake, reported at once.
    pub async fn run(&self, seed: u64, n: usize) -> Option<SearchReport> {
        let db = (self.setup)().await?;
        let tenants = db.tenants.len();
        assert!(
            tenants >= 2,
            "a leak search needs two tenants at least; the setup gave {tenants}"
        );
        assert!(
            !self.drivers.is_empty(),
            "register an entity: .entity::<E>()"
        );
        let ops = self.generate(seed, n, tenants);
        let started = Instant::now();
        let ran = self.run_once(&ops, self.tasks, Some(db)).await?;
        let elapsed = started.elapsed();
        let failure = match ran.first {
            None => None,
            Some(first) => Some(self.shrink_failure(ops, first).await),
        };
        Some(SearchReport {
            name: self.name.clone(),
            seed,
            ops: n,
            tenants,
            tasks: self.tasks,
            counts: ran.counts,
            elapsed,
            failure,
        })
    }

    async fn shrink_failure(&self, ops: Vec<Op>, first: Mismatch) -> Failure {
        let tenant = first.op.tenant;
        // One task: each candidate runs in program order, so a leak between two tenants
        // reproduces without a race.
        let (shrunk, shrink_runs) = shrink(
            ops,
            first.index,
            |op: &Op| op.tenant == tenant,
            self.shrink_budget,
            async |candidate: &[Op]| {
                self.run_once(candidate, 1, None)
                    .await
                    .is_some_and(|r| r.first.is_some())
            },
        )
        .await;
        let shrunk_difference = self.run_once(&shrunk, 1, None).await.and_then(|r| r.first);
        Failure {
            first,
            shrunk,
            shrunk_difference,
            shrink_runs,
        }
    }

    /// The test-suite entry point: `TENANT_LEAK_OPS` ops (else `default_ops`) from
    /// `TENANT_LEAK_SEED` (else random), the report printed on stdout. Returns the report
    /// (`None`: skipped, the setup gave no database).
    ///
    /// # Panics
    /// With the report, when the search failed.
    pub async fn check(&self, default_ops: usize) -> Option<SearchReport> {
        self.check_ops(crate::ops_from_env(default_ops)).await
    }

    /// As [`check`](Self::check), with `ops` ops (from a variable of your own, say).
    ///
    /// # Panics
    /// With the report, when the search failed.
    pub async fn check_ops(&self, ops: usize) -> Option<SearchReport> {
        let report = self.run(crate::seed(), ops).await?;
        println!("{report}");
        assert!(report.passed(), "{report}");
        Some(report)
    }
}

/// Runs one task's ops, in program order, against its tenants' models.
async fn run_task<DB: KitDb>(
    db: Arc<Database<DB>>,
    drivers: Arc<Vec<Arc<dyn Driver<DB>>>>,
    queries: Arc<Vec<(&'static str, QueryFn<DB>)>>,
    ops: Vec<(usize, Op)>,
    stop: Arc<AtomicBool>,
) -> (Counts, Option<Mismatch>) {
    let tenants = db.tenants.len();
    let mut models: HashMap<usize, TenantModel> = HashMap::new();
    let mut cursors: HashMap<(usize, usize), CursorBox> = HashMap::new();
    let mut counts = Counts::default();
    for (index, mut op) in ops {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let t = op.tenant;
        let ctx = &db.tenants[t];
        // A page's cursor: one this tenant was given, or a sibling's; none yet: from the start.
        let mut cursor = None;
        if let Kind::Page { entity, after, .. } = &mut op.kind {
            let owner = match after {
                After::Start => None,
                After::Own => Some(t),
                After::Foreign(o) => Some(*o),
            };
            cursor = owner.and_then(|o| cursors.get(&(o, *entity)).cloned());
            if cursor.is_none() {
                *after = After::Start;
            }
        }
        let mut check = Check {
            tenant: ctx.tenant_id().clone(),
            index: t,
            tenants,
            leaks: 0,
        };
        let in_tx = db.every_op_in_tx || op.in_tx || matches!(op.kind, Kind::Query { .. });
        let (actual, next) = if in_tx {
            match (db.begin)(&db.pool, ctx).await {
                Err(e) => (Outcome::Err(ErrKind::of(&e)), None),
                Ok(mut tx) => {
                    let (out, next) = match &op.kind {
                        Kind::Query { index } => {
                            let out = match (queries[*index].1)(ctx, &mut tx).await {
                                Ok(text) => {
                                    check.text(&text);
                                    Outcome::Text(text)
                                }
                                Err(e) => Outcome::Err(ErrKind::of(&e)),
                            };
                            (out, None)
                        }
                        kind => {
                            let driver = &drivers[entity_of(kind)];
                            driver
                                .execute(On::Tx(&mut tx), ctx, kind, cursor, &mut check)
                                .await
                        }
                    };
                    let done = DB::finish(tx, !matches!(out, Outcome::Err(_))).await;
                    match done {
                        Ok(()) => (out, next),
                        Err(e) => (Outcome::Err(ErrKind::of(&e)), None),
                    }
                }
            }
        } else {
            drivers[entity_of(&op.kind)]
                .execute(On::Pool(&db.pool), ctx, &op.kind, cursor, &mut check)
                .await
        };
        let model = models
            .entry(t)
            .or_insert_with(|| TenantModel::new(drivers.len()));
        let expect = match &op.kind {
            Kind::Query { .. } => Expect::AnyOk,
            kind => drivers[entity_of(kind)].settle(model, ctx.tenant_id(), kind, Some(&actual)),
        };
        if let Kind::Page { entity, .. } = &op.kind {
            match (&actual, next) {
                (Outcome::Page { .. }, Some(next)) => {
                    cursors.insert((t, *entity), next);
                }
                (Outcome::Page { .. }, None) => {
                    cursors.remove(&(t, *entity));
                }
                _ => {}
            }
        }
        let agrees = match &expect {
            Expect::Exactly(outcome) => *outcome == actual,
            Expect::AnyRow => matches!(actual, Outcome::Row(Some(_))),
            Expect::RowCount(n) => matches!(&actual, Outcome::Rows(rows) if rows.len() == *n),
            Expect::PageUpTo(n) => matches!(actual, Outcome::Page { rows, .. } if rows <= *n),
            Expect::AnyOk => !matches!(actual, Outcome::Err(_)),
        };
        counts.op(op.kind.name(), outcome_class(&actual), op.cross);
        counts.leaks += check.leaks;
        if !agrees || check.leaks > 0 {
            stop.store(true, Ordering::Relaxed);
            return (
                counts,
                Some(Mismatch {
                    index,
                    expected: format!("{expect:?}"),
                    actual: format!("{actual:?}"),
                    leaks: check.leaks,
                    op,
                }),
            );
        }
    }
    (counts, None)
}
