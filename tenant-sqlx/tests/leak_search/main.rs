//! A model-based search for tenant leaks. Random programs of operations drawn
//! from every repository method, checked queries (`query!` and its kin: a join, a LEFT JOIN
//! count, an update by a key often another tenant's), and raw SQL inside tenant-bound
//! transactions run
//! concurrently against a real database, and an in-memory model written here, with none of the
//! crate's code, predicts every result, errors included. Any difference fails the run, and so
//! does any returned row whose tenant is not the caller's (a leak). A failing program is shrunk
//! by delta debugging, each candidate on a fresh database, and the seed and the shortest
//! failing sequence are printed.
//!
//! Four backends: SQLite (a temporary file with several pooled connections), PostgreSQL (a
//! fresh schema, the repositories' own tenant predicates alone), PostgreSQL with row-level
//! security (the application role, every operation inside a `TenantTx`, raw
//! `SELECT * FROM leak_items` seeing only the tenant's rows), and PostgreSQL with a schema per
//! tenant (each tenant's own schema made by `TenantSchema`, every operation inside
//! `TenantTx::begin_in_schema`, so the search path alone decides which rows raw
//! `SELECT * FROM leak_items` sees; the run's schemas are dropped when it ends). The PostgreSQL
//! runs need `DATABASE_URL` and `APP_DATABASE_URL` (`.ci/run` sets them; on CI they are
//! required).
//!
//! And two placements (module `placed`): two SQLite files, or two private PostgreSQL servers
//! (test-support's `PgServer`), behind a `PoolSet`, the tenants spread over both by a registry,
//! every op through the pool set, and tenants moved between them in the middle of the program
//! with the move workflow's steps; the model predicts every step of a move (`Fenced` during
//! the copy, `Moved` for a process whose cache is stale, nothing left at the source) and the
//! rows over both databases at the end.
//!
//! Concurrency without losing exact predictions: `TASKS` tokio tasks on a multi-thread runtime
//! share one pool, and task `k` alone runs the ops of tenants `t % TASKS == k`, in program
//! order, so each tenant's history, and the model's prediction of every result, is the same
//! whatever the interleaving. Cross-tenant attempts use what the generator saw of other tenants
//! (their keys, unique values, groups, labels) and cursors minted for a sibling tenant of the
//! same task. SQLite runs on a temporary file (WAL) with several connections rather than
//! in-memory with one: the bugs sought include state left on a pooled connection (a cached
//! statement, a setting), which one connection cannot show; raw transactions write before they
//! read, so no deferred transaction has to upgrade its lock.
//!
//! The generic machinery (the seeded generator, sizes and seeds from the environment, the
//! partition of tenants over tasks, the counts, the classes of errors and the shrinker) is
//! `tenant-testkit`'s, the kit users run over their own entities; what is here is this
//! search's model and operations: `model` (rows, filters, orders, ops and the model's
//! predictions), `generator` (a whole program), `backends` (a fresh database of each kind),
//! `exec` (one op per backend), `runner` (a program's tasks, the report, the shrinker's runs)
//! and `placed` (two placements and the moves between them).
//!
//! Size: `TENANT_LEAK_OPS` ops per backend (default 2,000 for a quick local run; CI runs 6,000,
//! seconds each in a debug build; the two-placement runs take `TENANT_LEAK_PLACED_OPS`,
//! default 2,000, which CI keeps),
//! from `TENANT_LEAK_SEED` (random when unset; always printed). A run prints its counts (ops by
//! kind, expected outcomes by class, cross-tenant attempts, leaks) on stdout.
//!
//! How to rerun (the seed is printed by every run; counts go to stdout):
//!
//! ```sh
//! # DATABASE_URL (and APP_DATABASE_URL for the RLS backend) name the servers, as .ci/run sets them
//! TENANT_LEAK_SEED=42 TENANT_LEAK_OPS=100000 \
//!   cargo test -p tenant-sqlx --all-features --test leak_search --release -- --nocapture
//! ```

#![allow(missing_docs)] // test entities

mod backends;
mod exec;
mod generator;
mod model;
mod placed;
mod runner;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering as AtomicOrdering};
use std::time::{Duration, Instant};

use futures::TryStreamExt as _;
use tenant::sqlx::{
    CheckedExecutor, CheckedReader, Conn, Cursor, Error, Filter, Order, PageRequest, Repo,
    TenantSchema, TenantTx, WriteConn, query, query_as, query_scalar,
};
use tenant::{Plan, ProvisionCtx, TenantCtx, TenantId, tenant_scoped};
use tenant_test_support as support;
use tenant_testkit::{Counts, ErrKind, Rng};

use backends::BackendKind;
use generator::generate;
use model::{Kind, Mutant};
use runner::{Mismatch, run, shrink};

#[tenant_scoped(table = "leak_groups")]
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    pub name: String,
}

#[tenant_scoped(table = "leak_items")]
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    #[unique]
    pub code: String,
    #[index]
    pub label: String,
    pub amount: i64,
    pub note: Option<String>,
    #[belongs_to(Group)]
    pub group_id: i64,
}

// Sizes. Keys, codes and amounts come from small ranges so that keys collide across tenants,
// unique values conflict within one, and orders have ties for the key to break.
const TENANTS: usize = 20;
const TASKS: usize = 8;
const KEYS: i64 = 30;
const CODES: u64 = 24;
/// Groups 1..=3 every tenant has; group `PRIVATE_GROUP + t` only tenant `t` has.
const SHARED_GROUPS: i64 = 3;
const PRIVATE_GROUP: i64 = 100;
const WORDS: [&str; 6] = ["alpha", "beta", "al_pha", "50%off", "gamma", "a\\b"];

fn tenant_name(t: usize) -> String {
    format!("t{t:02}")
}

fn valid_group(t: usize, group: i64) -> bool {
    (1..=SHARED_GROUPS).contains(&group) || group == PRIVATE_GROUP + t as i64
}

fn group_name(t: usize, group: i64) -> String {
    format!("{}-g{group}", tenant_name(t))
}

/// Tenant `t`'s groups: the shared numbers and its private one.
fn tenant_groups(t: usize) -> impl Iterator<Item = NewGroup> {
    (1..=SHARED_GROUPS)
        .chain([PRIVATE_GROUP + t as i64])
        .map(move |id| NewGroup {
            id,
            name: group_name(t, id),
        })
}

/// Tenant `t`'s context (the schema-per-tenant backend names its own schemas instead).
fn ctx(t: usize) -> TenantCtx {
    support::ctx(&tenant_name(t), Plan::Free)
}

/// Generates, runs, reports; on a failure shrinks and panics with the seed and the shortest
/// failing sequence.
async fn search(kind: BackendKind) {
    let seed = tenant_testkit::seed();
    let is_placed = matches!(
        kind,
        BackendKind::SqlitePlaced | BackendKind::PostgresPlaced(_)
    );
    let (n, size_var) = if is_placed {
        (placed::ops(), "TENANT_LEAK_PLACED_OPS")
    } else {
        (tenant_testkit::ops_from_env(2_000), "TENANT_LEAK_OPS")
    };
    let mut ops = generate(seed, n);
    if is_placed {
        ops = placed::with_moves(ops, seed);
    }
    let started = Instant::now();
    let Some(report) = run(kind, &ops, None).await else {
        return;
    };
    let elapsed = started.elapsed();
    println!(
        "leak_search {kind:?}: seed={seed} tenants={TENANTS} tasks={TASKS} ops={} \
         cross_tenant={} leaks={} differences={} items={} total_differs={:?} time={:.1}s\n  {}",
        report.counts.ops,
        report.counts.cross,
        report.counts.leaks,
        report.mismatches.len(),
        report.model_items,
        report.total_differs,
        elapsed.as_secs_f64(),
        report.counts
    );
    if let Some(total) = &report.total_differs {
        panic!(
            "{kind:?}: every op agreed, but the databases hold {total:?} items where the model \
             holds {} (a row lost or kept twice). Seed {seed} ({size_var}={n}).",
            report.model_items
        );
    }
    if let Some(first) = report.mismatches.first() {
        // Before shrinking, which reruns the program up to 400 times: a run cut short still
        // shows what differed.
        eprintln!(
            "{kind:?}: first difference, before shrinking: {}",
            first.describe()
        );
        let (shrunk, runs) = shrink(kind, ops.clone(), first, None, 400).await;
        let last = run(kind, &shrunk, None).await.expect("configured");
        panic!(
            "{kind:?}: the model and the database differ (leaks: {}). Seed {seed} \
             (TENANT_LEAK_SEED={seed} {size_var}={n}).\nfirst difference: {}\n\
             shortest failing sequence ({} ops, {runs} shrink runs):\n{}\nits difference: {}",
            report.counts.leaks,
            first.describe(),
            shrunk.len(),
            shrunk
                .iter()
                .map(|op| format!("  {op:?}"))
                .collect::<Vec<_>>()
                .join("\n"),
            last.mismatches
                .first()
                .map_or_else(|| "none (a flaky failure?)".to_owned(), Mismatch::describe)
        );
    }
    assert_eq!(report.counts.ops as usize, ops.len(), "every op ran");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_model_and_database_agree() {
    search(BackendKind::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_model_and_database_agree() {
    search(BackendKind::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_row_level_security_model_and_database_agree() {
    search(BackendKind::PostgresRls).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_schema_per_tenant_model_and_database_agree() {
    search(BackendKind::PostgresSchema).await;
}

/// Two SQLite files behind a pool set, the tenants spread over both, tenants moved between
/// them in the middle of the program (see `placed`).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_two_placements_with_moves_model_and_database_agree() {
    search(BackendKind::SqlitePlaced).await;
}

/// The same on two private PostgreSQL servers on their own ports (test-support's `PgServer`),
/// the moves' copy and verification by `TenantCopy` as the workflow's.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_two_servers_with_moves_model_and_database_agree() {
    let test = "leak_search over two PostgreSQL servers";
    let Some(main) = support::PgServer::new(test) else {
        return;
    };
    let Some(eu) = support::PgServer::new(test) else {
        return;
    };
    // `BackendKind` is `Copy`: the URLs live as long as the process, the servers as the test.
    let urls: &'static [String; 2] = Box::leak(Box::new([main.url(), eu.url()]));
    search(BackendKind::PostgresPlaced(urls)).await;
}

/// The shrinker at work on a known bug: a model that forgets deletes is caught, and the
/// failing program shrinks to a handful of ops that still fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_mutant_model_is_caught_and_shrunk_to_a_handful_of_ops() {
    mutant_is_caught_and_shrunk(BackendKind::Sqlite).await;
}

/// The same with a schema per tenant: every shrink candidate on its own fresh schemas (and
/// none left behind).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_mutant_model_is_caught_and_shrunk_with_a_schema_per_tenant() {
    mutant_is_caught_and_shrunk(BackendKind::PostgresSchema).await;
}

async fn mutant_is_caught_and_shrunk(kind: BackendKind) {
    let mutant = Some(Mutant::ForgetsDeletes);
    let ops = generate(7, 2_000);
    let Some(report) = run(kind, &ops, mutant).await else {
        return;
    };
    let first = report.mismatches.first().expect("the mutant is caught");
    assert_eq!(report.counts.leaks, 0, "a wrong model is not a leak");
    let (shrunk, runs) = shrink(kind, ops, first, mutant, 400).await;
    println!(
        "mutant on {kind:?}: shrunk to {} ops in {runs} runs: {shrunk:#?}",
        shrunk.len()
    );
    assert!(
        shrunk.len() <= 4,
        "shrunk to {} ops: {shrunk:#?}",
        shrunk.len()
    );
    assert!(
        shrunk.iter().any(|op| matches!(op.kind, Kind::Delete(_))),
        "the delete the mutant forgets is kept"
    );
    let again = run(kind, &shrunk, mutant).await.unwrap();
    assert!(again.failed(), "the shrunk program still fails");
    let correct = run(kind, &shrunk, None).await.unwrap();
    assert!(!correct.failed(), "and passes against the correct model");
}
