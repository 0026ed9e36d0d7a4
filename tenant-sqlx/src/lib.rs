//! Tenant-scoped repositories over [sqlx](https://docs.rs/sqlx) and the SQL tenant registry: the
//! runtime behind `#[tenant::tenant_scoped]`. Use it through the `tenant` facade (features
//! `sqlite`, `postgres`), which re-exports it as `tenant::sqlx`.
//!
//! | item | what it is |
//! |---|---|
//! | [`Repo`] | an entity's repository over a pool, connection or transaction: every statement carries the tenant |
//! | [`Col`], [`Filter`] | typed columns and the filters built from them |
//! | [`SqlRegistry`] | the `tenants` table: a [`TenantRegistry`](tenant_core::TenantRegistry) on SQLite or PostgreSQL |
//! | [`Error`] | what a repository or the SQL registry can fail with |

#![warn(missing_docs, unreachable_pub)]

mod error;
mod registry;
mod repo;

pub use error::Error;
pub use registry::{NewTenant, RegistryBackend, SqlRegistry};
pub use repo::{
    Backend, Col, Conn, Entity, Filter, Repo, SqlType, SuppliedKey, TenantColumn, TextColumn,
};

/// Re-exports for the code `#[tenant_scoped]` generates. Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::repo::{
        ColumnMeta, ColumnRole, ColumnValue, Dialect, EntityIo, EntityMeta, Query, SqlType,
        Statements, TenantColumn,
    };
    pub use sea_query::ColumnType;
    pub use sqlx;
}
