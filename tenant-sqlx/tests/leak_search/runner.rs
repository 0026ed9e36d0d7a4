//! A program against a database: each task's ops in program order, compared with the
//! model; the report; the shrinker's runs.

use super::backends::{Db, fresh};
use super::exec::{Check, GivenCursor, on_postgres, on_sqlite};
use super::model::{After, Cursors, Mode, Op, Outcome, State, predict};
use super::*;

/// One difference between the model and the database.
#[derive(Debug, Clone)]
pub(crate) struct Mismatch {
    pub(crate) index: usize,
    pub(crate) op: Op,
    pub(crate) expected: Outcome,
    actual: Outcome,
    pub(crate) leaks: u64,
}

impl Mismatch {
    pub(crate) fn describe(&self) -> String {
        format!(
            "op #{}: {:?}\n  model:    {:?}\n  database: {:?}\n  rows of another tenant returned: {}",
            self.index, self.op, self.expected, self.actual, self.leaks
        )
    }
}

/// What the model expected, by class: shows the search reaches errors and non-empty results,
/// not only empty reads.
fn outcome_class(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Err(kind) => kind.class(),
        Outcome::Raw {
            insert: Some(Err(_)),
            ..
        } => "raw_insert_refused",
        Outcome::Row(None) | Outcome::Count(0) | Outcome::Bool(false) => "empty",
        Outcome::Rows(rows) | Outcome::Page { rows, .. } if rows.is_empty() => "empty",
        Outcome::Pairs(pairs) if pairs.is_empty() => "empty",
        Outcome::Move(_) => "move",
        _ => "non_empty",
    }
}

/// What a run did (the kit's counts) and where the model and the database differed.
#[derive(Debug, Default)]
pub(crate) struct Report {
    pub(crate) counts: Counts,
    pub(crate) mismatches: Vec<Mismatch>,
    /// The items the model holds at the end, every tenant together.
    pub(crate) model_items: u64,
    /// With two placements: the items over both databases at the end, when they are not the
    /// model's (a row lost or kept twice by a move), or the error of counting them.
    pub(crate) total_differs: Option<Result<u64, String>>,
}

impl Report {
    fn merge(&mut self, other: Report) {
        self.counts.merge(&other.counts);
        self.mismatches.extend(other.mismatches);
        self.model_items += other.model_items;
    }

    pub(crate) fn failed(&self) -> bool {
        self.counts.leaks > 0 || !self.mismatches.is_empty() || self.total_differs.is_some()
    }
}

/// Runs one task's ops (those of the tenants `t % TASKS == task`), in program order.
async fn run_task(
    db: Db,
    ops: Vec<(usize, Op)>,
    mutant: Option<Mutant>,
    stop: Arc<AtomicBool>,
) -> Report {
    let mode = db.mode();
    let mut states: HashMap<usize, State> = HashMap::new();
    let mut cursors: Cursors = HashMap::new();
    let mut report = Report::default();
    for (index, op) in ops {
        if stop.load(AtomicOrdering::Relaxed) {
            break;
        }
        let t = op.tenant;
        let ctx = db.ctx(t);
        let mut cross = op.cross;
        // The cursor this page op is given, and what the model makes of it.
        let (given, model_cursor) = match &op.kind {
            Kind::Page { spec, after, .. } => {
                let stored = match *after {
                    After::Start => None,
                    After::Own => cursors.get(&(t, *spec)).map(|(c, row)| (c, Ok(row))),
                    After::OtherSpec(other) if other != *spec => {
                        cursors.get(&(t, other)).map(|(c, _)| (c, Err(())))
                    }
                    After::OtherSpec(_) => None,
                    After::Foreign(owner) => {
                        cursors.get(&(owner, *spec)).map(|(c, _)| (c, Err(())))
                    }
                };
                if matches!(stored, Some((_, Err(())))) && matches!(after, After::Foreign(_)) {
                    cross = true;
                }
                match stored {
                    Some((cursor, model)) => (Some(cursor.clone()), Some(model.cloned())),
                    None => (None, None),
                }
            }
            _ => (None, None),
        };
        let state = states.entry(t).or_default();
        let expected = predict(
            state,
            &op,
            mode,
            model_cursor.as_ref().map(|m| m.as_ref().map_err(|_| ())),
            mutant,
        );
        let mut check = Check {
            tenant: ctx.tenant_id(),
            leaks: 0,
        };
        let (actual, next) = execute(&db, &ctx, &op, given, &mut check).await;
        if let Kind::Page { spec, .. } = &op.kind {
            match (&expected, next) {
                (Outcome::Page { rows, more: true }, Some(cursor)) => {
                    let last = rows.last().expect("a page with more has rows").clone();
                    cursors.insert((t, *spec), (cursor, last));
                }
                (Outcome::Page { .. }, _) => {
                    cursors.remove(&(t, *spec));
                }
                // A refused cursor leaves the listing where it was.
                _ => {}
            }
        }
        // With row-level security or a schema per tenant, raw SQL read and wrote another
        // tenant's rows.
        cross |= matches!(
            expected,
            Outcome::Raw {
                foreign_rows: Some(_),
                ..
            }
        );
        report
            .counts
            .op(op.kind.name(), outcome_class(&expected), cross);
        if matches!(model_cursor, Some(Ok(_))) {
            *report
                .counts
                .outcomes
                .entry("page_after_own_cursor")
                .or_default() += 1;
        }
        report.counts.leaks += check.leaks;
        if actual != expected || check.leaks > 0 {
            report.mismatches.push(Mismatch {
                index,
                op,
                expected,
                actual,
                leaks: check.leaks,
            });
            stop.store(true, AtomicOrdering::Relaxed);
            break;
        }
    }
    report.model_items = states.values().map(|state| state.len() as u64).sum();
    report
}

/// `t % TASKS == task`. `None` when the backend is not configured.
pub(crate) async fn run(kind: BackendKind, ops: &[Op], mutant: Option<Mutant>) -> Option<Report> {
    let db = fresh(kind).await?;
    let stop = Arc::new(AtomicBool::new(false));
    let reports = tenant_testkit::run_partitioned(
        ops,
        TASKS,
        |op| op.tenant,
        |ops| run_task(db.clone(), ops, mutant, stop.clone()),
    )
    .await;
    let mut report = Report::default();
    for other in reports {
        report.merge(other);
    }
    report.mismatches.sort_by_key(|m| m.index);
    if report.mismatches.is_empty() {
        let total = match &db {
            Db::SqlitePlaced(placed) => Some(placed.total_items().await),
            Db::PostgresPlaced(placed) => Some(placed.total_items().await),
            _ => None,
        };
        report.total_differs = match total {
            Some(Ok(n)) if n == report.model_items => None,
            Some(other) => Some(other.map_err(|e| e.to_string())),
            None => None,
        };
    }
    db.close().await;
    Some(report)
}

/// The shortest failing program found from `ops` (which fails): the kit's shrinker (the prefix
/// up to the first difference, then the failing tenant's ops alone, then delta debugging), each
/// candidate run on a fresh database. Gives up refining after `budget` runs.
pub(crate) async fn shrink(
    kind: BackendKind,
    ops: Vec<Op>,
    first: &Mismatch,
    mutant: Option<Mutant>,
    budget: usize,
) -> (Vec<Op>, usize) {
    let tenant = first.op.tenant;
    tenant_testkit::shrink(
        ops,
        first.index,
        |op: &Op| op.tenant == tenant,
        budget,
        async |candidate: &[Op]| {
            run(kind, candidate, mutant)
                .await
                .is_some_and(|r| r.failed())
        },
    )
    .await
}

/// Runs `op` on `db` as `ctx`: on the pool, or in the tenant's transaction the backend
/// needs (committed when the op succeeded); raw SQL always in one.
async fn execute(
    db: &Db,
    ctx: &TenantCtx,
    op: &Op,
    cursor: GivenCursor,
    check: &mut Check<'_>,
) -> (Outcome, Option<Cursor<Item>>) {
    let foreign = match &op.kind {
        Kind::RawTx { foreign, .. } => Some(db.ctx(*foreign)),
        _ => None,
    };
    let as_outcome =
        |r: Result<Outcome, Error>| (r.unwrap_or_else(|e| Outcome::Err(ErrKind::of(&e))), None);
    match db {
        Db::SqlitePlaced(placed) => {
            on_sqlite::through_pool_set(placed, ctx, op, cursor, check).await
        }
        Db::PostgresPlaced(placed) => {
            on_postgres::through_pool_set(placed, ctx, op, cursor, check).await
        }
        Db::Sqlite(file) => {
            let pool = file.pool();
            if let Some(foreign) = &foreign {
                return as_outcome(
                    async {
                        let tx = TenantTx::begin(pool, ctx).await?;
                        on_sqlite::raw_tx(tx, ctx, &op.kind, foreign, Mode::Predicates, check).await
                    }
                    .await,
                );
            }
            if op.in_tx {
                on_sqlite::in_tx(
                    TenantTx::begin(pool, ctx).await,
                    ctx,
                    &op.kind,
                    cursor,
                    check,
                )
                .await
            } else {
                on_sqlite::on_pool(pool, ctx, &op.kind, cursor, check).await
            }
        }
        Db::Postgres(pool) | Db::Rls(pool) | Db::Schema(pool, _) => {
            let mode = db.mode();
            // With a schema per tenant, the tenant's transaction has its schema as the search
            // path; otherwise it only carries the tenant (and its setting, for the policies).
            let begin = async || match mode {
                Mode::Schema => TenantTx::begin_in_schema(pool, ctx).await,
                Mode::Predicates => TenantTx::begin(pool, ctx).await,
                Mode::Rls => support::row_security().begin(pool, ctx).await,
            };
            if let Some(foreign) = &foreign {
                return as_outcome(
                    async {
                        let tx = begin().await?;
                        on_postgres::raw_tx(tx, ctx, &op.kind, foreign, mode, check).await
                    }
                    .await,
                );
            }
            // With row-level security or a schema per tenant every op needs its tenant's
            // transaction, but one: the unbound count, which must then see nothing.
            let in_tx = match mode {
                Mode::Predicates => op.in_tx,
                Mode::Rls | Mode::Schema => !matches!(op.kind, Kind::Unbound),
            };
            if in_tx {
                on_postgres::in_tx(begin().await, ctx, &op.kind, cursor, check).await
            } else {
                on_postgres::on_pool(pool, ctx, &op.kind, cursor, check).await
            }
        }
    }
}
