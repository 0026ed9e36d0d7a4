//! Checked queries: raw SQL whose tenant tables are named by their entity (`{Invoice}`) and
//! restricted to the context's tenant wherever they appear, checked when the crate compiles.
//! The macros (`query!`, `query_as!`, `query_scalar!`) parse the statement; this module is what
//! their expansion runs: the statement of each call site, rendered once ([`CheckedSql`]), the
//! arguments bound when the backend is known ([`QueryArgs`]), the handles it runs on
//! ([`CheckedExecutor`]) and the queries themselves.
//!
//! [`CheckedSql`]: sql::CheckedSql

mod args;
mod executor;
mod query;
mod sql;

pub use args::QueryArgs;
pub use executor::{Access, CheckedExecutor, CheckedReader, Reads, Writes};
pub use query::{CheckedQuery, CheckedQueryAs, CheckedQueryScalar};
pub use sql::{CheckedSql, Piece, refuse_tenant_column, refused};
