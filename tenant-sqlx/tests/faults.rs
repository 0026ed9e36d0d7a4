//! Fault injection on a real PostgreSQL: a private cluster ([`support::PgServer`]) is stopped
//! (`-m fast`, then `-m immediate`: a crash) and restarted while several tenants' tasks write
//! through the repositories and through tenant-bound transactions with raw SQL.
//!
//! What must hold: every call returns, either `Ok` or a typed [`Error`] (never a panic, never a
//! hang: each call has a deadline); the pool recovers after each restart within a bound; and
//! the tables end up holding exactly what the acknowledged calls imply. A call whose error
//! leaves its outcome open (the connection was lost after the statement or the COMMIT was
//! sent) may have happened entirely or not at all, never in part: an `insert_many`, an
//! `update_where` or a transaction is all or nothing, and no row is ever under another tenant.
//!
//! Without PostgreSQL's server binaries the test is skipped with a notice, except on CI (`CI`
//! set), where that is a failure.

#![allow(missing_docs)] // test entities

use tenant_test_support as support;

use std::collections::{HashMap, HashSet};
use std::io::Write as _;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use support::{PgServer, PgStop};
use tenant::sqlx::Error;
use tenant::{Plan, TenantCtx, TenantId, tenant_scoped};

#[tenant_scoped(table = "fault_rows")]
#[derive(Debug, Clone, PartialEq)]
pub struct FaultRow {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    /// Written by exactly one call: `tenant * 10^12 + worker * 10^9 + call`, so a value shows
    /// which tenant's call wrote it, and every write changes the row.
    pub val: i64,
}

const TENANTS: [&str; 3] = ["acme", "globex", "initech"];
const WORKERS_PER_TENANT: usize = 2;
/// Every call's deadline: a call still running then is abandoned and counted as ambiguous.
const CALL_DEADLINE: Duration = Duration::from_secs(10);
/// How long the pool may take to serve a call again after the server is back.
const RECOVERY_DEADLINE: Duration = Duration::from_secs(15);
/// The whole test's deadline; past it the cluster is dropped (stopped, killed if need be).
const TEST_DEADLINE: Duration = Duration::from_secs(120);
/// A batch this large takes two INSERT statements (65535 binds / 3 per row = 21845 rows per
/// statement), so `insert_many` runs its multi-statement transaction.
const BIG_BATCH: i64 = 22_000;

/// What a failed call tells about its writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Ok,
    /// Certainly not applied: it never reached the server (no connection), or a transaction
    /// failed before its COMMIT was sent.
    NotApplied,
    /// May have been applied: the statement (or COMMIT) may have run before the connection
    /// was lost, or the deadline passed.
    Ambiguous,
}

/// The outcome of a call that returned `error` after sending its statement.
fn classify(error: &Error) -> Outcome {
    match error {
        Error::Database(sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed) => Outcome::NotApplied,
        Error::Database(sqlx::Error::Io(io))
            if io.kind() == std::io::ErrorKind::ConnectionRefused =>
        {
            Outcome::NotApplied
        }
        // Conflicts and foreign keys cannot happen here (keys are never reused): a typed error
        // all the same, but one that says the model is wrong.
        Error::Conflict { .. } | Error::ForeignKey { .. } => {
            panic!("unexpected constraint error under faults: {error}")
        }
        _ => Outcome::Ambiguous,
    }
}

/// A write whose outcome is open: each row is either `before` or `after`, all rows alike.
#[derive(Debug)]
struct Group {
    tenant: usize,
    what: &'static str,
    rows: Vec<(i64, Option<i64>, Option<i64>)>,
}

/// What one worker knows: the exact value of every row it owns and may still touch (absent
/// keys: no row), and the groups of rows that ambiguous calls may have written, which it
/// touches no more.
#[derive(Debug, Default)]
struct Model {
    known: HashMap<i64, i64>,
    groups: Vec<Group>,
}

#[derive(Debug, Default)]
struct Counts {
    ok: AtomicU64,
    not_applied: AtomicU64,
    ambiguous: AtomicU64,
    deadline: AtomicU64,
}

/// xorshift64*: reproducible choices without a dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

struct Worker {
    tenant: usize,
    ctx: TenantCtx,
    pool: PgPool,
    rng: Rng,
    /// The next fresh key: never reused, even when the call that took it failed.
    next_id: i64,
    call: i64,
    model: Model,
    counts: Arc<Counts>,
}

impl Worker {
    fn value(&mut self) -> i64 {
        self.call += 1;
        // Workers of one tenant share its key space split in halves; see `next_id`.
        let worker = self.next_id / 1_000_000_000;
        (self.tenant as i64 + 1) * 1_000_000_000_000 + worker * 1_000_000_000 + self.call
    }

    fn fresh(&mut self, n: i64) -> Vec<i64> {
        let ids = (self.next_id..self.next_id + n).collect();
        self.next_id += n;
        ids
    }

    /// Up to `n` distinct rows the worker knows exactly, at random.
    fn pick(&mut self, n: usize) -> Vec<(i64, i64)> {
        if self.model.known.is_empty() {
            return Vec::new();
        }
        let mut keys: Vec<i64> = self.model.known.keys().copied().collect();
        keys.sort_unstable();
        let mut out = Vec::new();
        for _ in 0..n {
            let key = keys[self.rng.below(keys.len() as u64) as usize];
            if out.iter().all(|&(k, _)| k != key) {
                out.push((key, self.model.known[&key]));
            }
        }
        out
    }

    /// Records the call's outcome: applied (`after` becomes known), not applied (nothing
    /// changes), or ambiguous (the rows go into a group and are touched no more).
    fn settle(
        &mut self,
        outcome: Outcome,
        what: &'static str,
        rows: Vec<(i64, Option<i64>, Option<i64>)>,
    ) {
        let counter = match outcome {
            Outcome::Ok => &self.counts.ok,
            Outcome::NotApplied => &self.counts.not_applied,
            Outcome::Ambiguous => &self.counts.ambiguous,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        match outcome {
            Outcome::Ok => {
                for (id, _, after) in rows {
                    match after {
                        Some(val) => self.model.known.insert(id, val),
                        None => self.model.known.remove(&id),
                    };
                }
            }
            Outcome::NotApplied => {}
            Outcome::Ambiguous => {
                for (id, ..) in &rows {
                    self.model.known.remove(id);
                }
                self.model.groups.push(Group {
                    tenant: self.tenant,
                    what,
                    rows,
                });
            }
        }
    }

    /// Runs `call` under the deadline and returns its result's outcome; checks an `Ok` with
    /// `check`.
    async fn run<T>(
        &self,
        call: impl Future<Output = Result<T, Error>>,
        check: impl FnOnce(T),
    ) -> Outcome {
        match tokio::time::timeout(CALL_DEADLINE, call).await {
            Ok(Ok(value)) => {
                check(value);
                Outcome::Ok
            }
            Ok(Err(error)) => classify(&error),
            Err(_) => {
                self.counts.deadline.fetch_add(1, Ordering::Relaxed);
                Outcome::Ambiguous
            }
        }
    }

    async fn step(&mut self) {
        let pool = self.pool.clone();
        let repo = || FaultRowRepo::new(pool.clone());
        let c = FaultRow::columns();
        match self.rng.below(16) {
            0..=2 => {
                let id = self.fresh(1)[0];
                let val = self.value();
                let new = NewFaultRow { id, val };
                let outcome = self
                    .run(repo().insert(&self.ctx, new), |row| {
                        assert_eq!(row.val, val)
                    })
                    .await;
                self.settle(outcome, "insert", vec![(id, None, Some(val))]);
            }
            3..=5 => {
                // Mostly small batches; now and then one of two statements.
                let n = if self.rng.below(30) == 0 {
                    BIG_BATCH
                } else {
                    2 + self.rng.below(40) as i64
                };
                let ids = self.fresh(n);
                let val = self.value();
                let rows = ids.iter().map(|&id| NewFaultRow { id, val });
                let outcome = self
                    .run(repo().insert_many(&self.ctx, rows), |count| {
                        assert_eq!(count, n as u64)
                    })
                    .await;
                let rows = ids.into_iter().map(|id| (id, None, Some(val))).collect();
                self.settle(outcome, "insert_many", rows);
            }
            6..=7 => {
                // An existing row (updated) or a fresh one (inserted).
                let existing = self.pick(1).pop().filter(|_| self.rng.below(2) == 0);
                let (id, before) = match existing {
                    Some((id, val)) => (id, Some(val)),
                    None => (self.fresh(1)[0], None),
                };
                let val = self.value();
                let outcome = self
                    .run(
                        repo().upsert(
                            &self.ctx,
                            NewFaultRow { id, val },
                            FaultRowPatch { val: Some(val) },
                        ),
                        |row| assert_eq!((row.id, row.val), (id, val)),
                    )
                    .await;
                self.settle(outcome, "upsert", vec![(id, before, Some(val))]);
            }
            8..=9 => {
                let n = 1 + self.rng.below(5) as usize;
                let rows = self.pick(n);
                if rows.is_empty() {
                    return;
                }
                let val = self.value();
                let ids: Vec<i64> = rows.iter().map(|&(id, _)| id).collect();
                let n = ids.len() as u64;
                let outcome = self
                    .run(
                        repo().update_where(
                            &self.ctx,
                            c.id.is_in(ids),
                            FaultRowPatch { val: Some(val) },
                        ),
                        |count| assert_eq!(count, n),
                    )
                    .await;
                let rows = rows
                    .into_iter()
                    .map(|(id, old)| (id, Some(old), Some(val)))
                    .collect();
                self.settle(outcome, "update_where", rows);
            }
            10 => {
                let Some((id, old)) = self.pick(1).pop() else {
                    return;
                };
                let outcome = self
                    .run(repo().delete(&self.ctx, id), |count| assert_eq!(count, 1))
                    .await;
                self.settle(outcome, "delete", vec![(id, Some(old), None)]);
            }
            11..=12 => {
                let n = 1 + self.rng.below(5) as usize;
                let rows = self.pick(n);
                if rows.is_empty() {
                    return;
                }
                let ids: Vec<i64> = rows.iter().map(|&(id, _)| id).collect();
                let n = ids.len() as u64;
                let outcome = self
                    .run(repo().delete_where(&self.ctx, c.id.is_in(ids)), |count| {
                        assert_eq!(count, n)
                    })
                    .await;
                let rows = rows
                    .into_iter()
                    .map(|(id, old)| (id, Some(old), None))
                    .collect();
                self.settle(outcome, "delete_where", rows);
            }
            _ => self.transaction().await,
        }
    }

    /// A tenant-bound transaction: a repository insert, then raw SQL that finds its tenant in
    /// the transaction's verified setting (`tenant_rls.current_tenant()`) (an update of known rows and an insert), then COMMIT.
    async fn transaction(&mut self) {
        let n = 1 + self.rng.below(3) as usize;
        let targets = self.pick(n);
        let ids = self.fresh(2);
        let (repo_id, raw_id) = (ids[0], ids[1]);
        let val = self.value();
        let target_ids: Vec<i64> = targets.iter().map(|&(id, _)| id).collect();
        let mut rows = vec![(repo_id, None, Some(val)), (raw_id, None, Some(val))];
        rows.extend(targets.iter().map(|&(id, old)| (id, Some(old), Some(val))));

        let (pool, ctx) = (self.pool.clone(), self.ctx.clone());
        // Everything before COMMIT: an error there leaves nothing behind (the server rolls
        // back a transaction that never committed).
        let body = async move {
            let mut tx = support::row_security().begin(&pool, &ctx).await?;
            tx.repo::<FaultRow>()
                .insert(&ctx, NewFaultRow { id: repo_id, val })
                .await?;
            let updated = sqlx::query(
                "UPDATE fault_rows SET val = $1 \
                 WHERE id = ANY($2) AND tenant_id = tenant_rls.current_tenant()",
            )
            .bind(val)
            .bind(&target_ids)
            .execute(tx.executor())
            .await
            .map_err(Error::Database)?;
            assert_eq!(updated.rows_affected(), target_ids.len() as u64);
            sqlx::query(
                "INSERT INTO fault_rows (tenant_id, id, val) \
                 VALUES (tenant_rls.current_tenant(), $1, $2)",
            )
            .bind(raw_id)
            .bind(val)
            .execute(tx.executor())
            .await
            .map_err(Error::Database)?;
            Ok::<_, Error>(tx)
        };
        let outcome = match tokio::time::timeout(CALL_DEADLINE, body).await {
            Err(_) => {
                self.counts.deadline.fetch_add(1, Ordering::Relaxed);
                // Dropped before COMMIT: rolled back.
                Outcome::NotApplied
            }
            Ok(Err(error)) => {
                // Classified for its panics on impossible errors; never applied all the same.
                let _ = classify(&error);
                Outcome::NotApplied
            }
            Ok(Ok(tx)) => self.run(tx.commit(), |()| ()).await,
        };
        self.settle(outcome, "transaction", rows);
    }
}

/// A pool whose calls fail fast while the server is down, instead of queueing.
async fn pool(url: &str) -> PgPool {
    PgPoolOptions::new()
        .max_connections(8)
        .acquire_timeout(Duration::from_secs(2))
        .connect_with(PgConnectOptions::from_str(url).unwrap())
        .await
        .expect("connect to the private cluster")
}

/// Blocking server control off the runtime's threads; the server comes back (or, on a panic,
/// is dropped there: stopped and removed).
async fn control(server: PgServer, f: impl FnOnce(&mut PgServer) + Send + 'static) -> PgServer {
    tokio::task::spawn_blocking(move || {
        let mut server = server;
        f(&mut server);
        server
    })
    .await
    .expect("server control panicked")
}

/// How long until a call on `pool` succeeds again; panics past [`RECOVERY_DEADLINE`].
async fn recovery(pool: &PgPool, ctx: &TenantCtx) -> Duration {
    let start = Instant::now();
    loop {
        let mut repo = FaultRowRepo::new(pool.clone());
        let probe = repo.count(ctx);
        if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_secs(2), probe).await {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < RECOVERY_DEADLINE,
            "the pool did not recover within {RECOVERY_DEADLINE:?} of the restart"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_survive_postgres_restarts() {
    let test = "writes_survive_postgres_restarts";
    let Some(server) = tokio::task::spawn_blocking(move || PgServer::new(test))
        .await
        .unwrap()
    else {
        return;
    };
    // The server moves into the test's future: dropped with it on the deadline, it is stopped
    // (killed if need be) and its directory removed.
    tokio::time::timeout(TEST_DEADLINE, run(server))
        .await
        .expect("the fault test ran past its deadline");
}

async fn run(mut server: PgServer) {
    let url = server.url();
    let pool = pool(&url).await;
    FaultRowRepo::new(pool.clone())
        .create_table()
        .await
        .expect("create the table");
    support::install_row_security(&pool).await;
    let ctxs: Vec<TenantCtx> = TENANTS
        .iter()
        .map(|t| support::ctx(t, Plan::Free))
        .collect();

    let counts = Arc::new(Counts::default());
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for (tenant, ctx) in ctxs.iter().enumerate() {
        for w in 0..WORKERS_PER_TENANT {
            let mut worker = Worker {
                tenant,
                ctx: ctx.clone(),
                pool: pool.clone(),
                rng: Rng(0x9e37_79b9_7f4a_7c15 ^ (tenant * 10 + w + 1) as u64),
                // Both tenants use the same keys: a row landing under the wrong tenant would
                // collide or show, never pass unnoticed.
                next_id: (w as i64 + 1) * 1_000_000_000,
                call: 0,
                model: Model::default(),
                counts: Arc::clone(&counts),
            };
            let stop = Arc::clone(&stop);
            workers.push(tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    worker.step().await;
                }
                worker
            }));
        }
    }

    // Load first, then stop and restart the server in the middle of it, fast and immediate in
    // turn, with load between the faults.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut faults = 0;
    let mut recoveries = Vec::new();
    for round in 0..4 {
        let mode = if round % 2 == 0 {
            PgStop::Fast
        } else {
            PgStop::Immediate
        };
        server = control(server, move |s| s.stop(mode)).await;
        faults += 1;
        // Calls meanwhile meet a server that is gone.
        tokio::time::sleep(Duration::from_millis(700)).await;
        server = control(server, PgServer::start).await;
        recoveries.push(recovery(&pool, &ctxs[round % TENANTS.len()]).await);
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut models = Vec::new();
    for worker in workers {
        let worker = worker
            .await
            .expect("a worker panicked: calls must return typed errors");
        models.push(worker.model);
    }

    // What the database holds, read on a fresh pool as the superuser (no tenant filter).
    let check = self::pool(&url).await;
    let rows: Vec<(String, i64, i64)> =
        sqlx::query_as("SELECT tenant_id::text, id, val FROM fault_rows")
            .fetch_all(&check)
            .await
            .unwrap();
    let mut actual: HashMap<(usize, i64), i64> = HashMap::new();
    for (tenant_id, id, val) in &rows {
        let tenant = TENANTS
            .iter()
            .position(|t| t == tenant_id)
            .unwrap_or_else(|| panic!("a row of an unknown tenant {tenant_id:?}"));
        // The value says which tenant's call wrote it.
        assert_eq!(
            *val / 1_000_000_000_000,
            tenant as i64 + 1,
            "row {id} of {tenant_id} was written by another tenant's call"
        );
        assert!(actual.insert((tenant, *id), *val).is_none());
    }

    let (mut exact, mut applied, mut not_applied) = (0, 0, 0);
    let mut accounted: HashSet<(usize, i64)> = HashSet::new();
    for (i, model) in models.iter().enumerate() {
        let tenant = i / WORKERS_PER_TENANT;
        for (&id, &val) in &model.known {
            assert_eq!(
                actual.get(&(tenant, id)),
                Some(&val),
                "{}: row {id} should be {val}",
                TENANTS[tenant]
            );
            accounted.insert((tenant, id));
            exact += 1;
        }
        for group in &model.groups {
            let state = |id| actual.get(&(group.tenant, id)).copied();
            let all_after = group.rows.iter().all(|&(id, _, after)| state(id) == after);
            let all_before = group
                .rows
                .iter()
                .all(|&(id, before, _)| state(id) == before);
            assert!(
                all_after || all_before,
                "{}: an ambiguous {} was applied in part: {:?}",
                TENANTS[group.tenant],
                group.what,
                group
                    .rows
                    .iter()
                    .map(|&(id, before, after)| (id, before, after, state(id)))
                    .take(10)
                    .collect::<Vec<_>>()
            );
            if all_after {
                applied += 1;
            } else {
                not_applied += 1;
            }
            accounted.extend(group.rows.iter().map(|&(id, ..)| (group.tenant, id)));
        }
    }
    // Rows no call accounts for: deleted ones that came back, or refused writes that landed.
    let stray: Vec<_> = actual.keys().filter(|k| !accounted.contains(k)).collect();
    assert!(
        stray.is_empty(),
        "rows no acknowledged call wrote: {stray:?}"
    );

    let _ = writeln!(
        std::io::stderr(),
        "faults: {faults} PostgreSQL stops (fast/immediate) and restarts; recovery after each: \
         {recoveries:?}; calls ok {}, failed and not applied {}, ambiguous {} (of which past \
         the deadline {}); ambiguous calls applied {applied}, not applied {not_applied}; rows \
         in the database {}, checked exactly {exact}, in ambiguous groups {}",
        counts.ok.load(Ordering::Relaxed),
        counts.not_applied.load(Ordering::Relaxed),
        counts.ambiguous.load(Ordering::Relaxed),
        counts.deadline.load(Ordering::Relaxed),
        rows.len(),
        accounted.len() - exact,
    );
    assert!(
        counts.ambiguous.load(Ordering::Relaxed) + counts.not_applied.load(Ordering::Relaxed) > 0,
        "no call met a fault: the test injected nothing"
    );
    check.close().await;
    pool.close().await;
    drop(server);
}
