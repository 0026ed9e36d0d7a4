//! [`LeakSearch`]: random programs over your entities and checked queries, run concurrently
//! against a real database and against a model; any difference, and any value of another
//! tenant that reaches a caller, fails the run, shrunk to its shortest failing program.
//!
//! One module per concept, each depending only on those before it: the op vocabulary
//! (`op`), the user-facing traits (`fixture`) and the database set-up (`database`), one
//! entity's driver (`driver`), the reports (`report`), and the runner (`runner`).

mod database;
// Without a backend there is no entity to drive.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod driver;
mod fixture;
mod op;
mod report;
mod runner;

pub use database::{BeginFn, CloseFn, Database, SetupFn, begin_fn};
pub use fixture::{DriverBox, Fixture, KitDb, OnBackend};
pub use op::{BoxFuture, ErrKind, Op};
pub use report::{Failure, Mismatch, SearchReport};
pub use runner::{LeakSearch, QueryFn, QueryFnPtr};
