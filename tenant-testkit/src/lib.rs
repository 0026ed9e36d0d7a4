//! Prove tenant isolation for your own entities, in your own CI.
//!
//! `tenant` proves isolation for its own test entities; this kit runs the same proofs over
//! yours, as a dev-dependency:
//!
//! | item | what it proves |
//! |---|---|
//! | [`LeakSearch`] | random programs over your entities' repositories and your checked queries, keys, parents and cursors colliding across tenants, agree with a model, and no value of another tenant reaches a caller; a failure is shrunk to its shortest program |
//! | `PooledCheck` | (PostgreSQL) two tenants taking turns on one server connection (yours, or your pooler's): no setting, search path, prepared statement or temporary table of one is visible to the next |
//! | `IsolationProbe` | (PostgreSQL) your database and role enforce isolation: the catalog audit, plus a live write as one tenant and raw-SQL reads as another; every finding at once |
//!
//! The searches' machinery is public for searches of your own: [`Rng`], [`seed`],
//! [`ops_from_env`], [`shrink`], [`run_partitioned`], [`Counts`], [`ErrKind`].
//!
//! Sizes: `TENANT_LEAK_OPS` ops per search (the test's default otherwise) from
//! `TENANT_LEAK_SEED` (random otherwise, always printed). A failure prints both, so
//! `TENANT_LEAK_SEED=<seed> TENANT_LEAK_OPS=<n> cargo test ..` replays it.
#![cfg_attr(docsrs, feature(doc_cfg))]
// Without a backend feature the entity machinery has nothing to drive; the generic parts
// (rng, shrink, counts, tasks) are still the kit's.
#![cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]

mod env;
mod model;
#[cfg(feature = "postgres")]
mod pooled;
#[cfg(feature = "postgres")]
mod probe;
mod report;
mod rng;
mod search;
mod shrink;
#[cfg(feature = "sqlite")]
mod sqlite_file;
mod tasks;
mod value;

pub use env::{ops_from_env, ops_from_var, seed};
#[cfg(feature = "postgres")]
pub use pooled::{PooledCheck, PooledFinding, PooledReport, TurnFn};
#[cfg(feature = "postgres")]
pub use probe::{IsolationProbe, ProbeFinding, ProbeFindings};
pub use report::Counts;
pub use rng::Rng;
pub use search::{
    BeginFn, BoxFuture, CloseFn, Database, DriverBox, ErrKind, Failure, Fixture, KitDb, LeakSearch,
    Mismatch, OnBackend, Op, QueryFn, QueryFnPtr, SearchReport, SetupFn, begin_fn,
};
pub use shrink::shrink;
#[cfg(feature = "sqlite")]
pub use sqlite_file::SqliteFile;
pub use tasks::run_partitioned;
pub use value::{Gen, Generate};
