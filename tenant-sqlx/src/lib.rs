//! Tenant-scoped repositories over [sqlx](https://docs.rs/sqlx) and the SQL tenant registry: the
//! runtime behind `#[tenant::tenant_scoped]`. Use it through the `tenant` facade (features
//! `sqlite`, `postgres`), which re-exports it as `tenant::sqlx`.
//!
//! | item | what it is |
//! |---|---|
//! | [`Repo`] | an entity's repository over a pool, connection or transaction: every statement carries the tenant |
//! | [`TenantTx`] | a transaction bound to one tenant: its repositories refuse every other tenant's context |
//! | `RowSecurity` | (PostgreSQL) the key behind a tenant setting raw SQL cannot forge, and the transactions that set it |
//! | `IsolationAudit` | (PostgreSQL) checks the role, row-level security and policies of the tenant tables; fails closed |
//! | `TenantSchema` | (PostgreSQL) a schema per tenant: created with its tables and migrations, dropped at offboarding |
//! | `TenantMigrations` | (PostgreSQL) versioned migrations over every tenant's schema and database: parallel, recorded per tenant, resumable |
//! | [`Migration`] | the DDL of a set of entities (tables, indexes, policies) as a `sqlx migrate` file |
//! | [`BelongsTo`] | a `#[belongs_to(Parent)]` field: a foreign key led by the tenant, and [`Repo::with_parent`] |
//! | [`Col`], [`Filter`], [`Order`] | typed columns, and the filters and orders built from them |
//! | [`PageRequest`], [`Page`], [`Cursor`], [`CursorKey`] | keyset pages and their tamper-evident cursors ([`Repo::page`]) |
//! | [`Select`] | ordered lists, limit/offset pages and streams ([`Repo::select`]) |
//! | [`PoolSet`], [`Routed`] | the pools of every configured database; a context's placement chooses one |
//! | [`TenantPool`] | a pool that gives out tenant-bound transactions only: a repository over it does not compile |
//! | `axum` (feature `axum`) | the per-request tenant-bound transaction (`RequestTx`), errors as RFC 9457 problems, `PageParams` |
//! | [`PlacementFence`] | each database's record of the tenants it holds, checked in every fenced BEGIN; a move's fence |
//! | [`SqlRegistry`] | the `tenants` table: a [`TenantRegistry`](tenant_core::TenantRegistry) on SQLite or PostgreSQL |
//! | [`Error`] | what a repository or the SQL registry can fail with |
//!
#![doc = include_str!("docs/repositories.md")]
#![cfg_attr(feature = "postgres", doc = include_str!("docs/postgres.md"))]
#![cfg_attr(feature = "postgres", doc = include_str!("docs/migrations.md"))]

#[cfg(feature = "postgres")]
mod audit;
#[cfg(feature = "axum")]
pub mod axum;
mod budget;
mod checked;
mod error;
mod migration;
mod placement;
#[cfg(feature = "postgres")]
mod pool_memo;
mod registry;
mod repo;
#[cfg(feature = "postgres")]
mod rollout;
#[cfg(feature = "postgres")]
mod row_security;
#[cfg(feature = "postgres")]
mod schema;
mod tenant_tx;

#[cfg(feature = "postgres")]
pub use audit::{Finding, Findings, IsolationAudit};
pub use budget::{BudgetTx, DEFAULT_FULL_WEIGHT, DbBudget};
pub use checked::{
    Access, CheckedExecutor, CheckedQuery, CheckedQueryAs, CheckedQueryScalar, CheckedReader,
    QueryArgs, Reads, Writes,
};
pub use error::Error;
pub use migration::Migration;
pub use placement::{
    DEFAULT_MAX_OPEN_POOLS, PlacedState, PlacementBackend, PlacementFence, PoolSet, PoolSetBuilder,
    Routed, TENANT_PLACEHOLDER, TenantPool,
};
#[cfg(feature = "postgres")]
pub use placement::{TableSum, TablesAt, TenantCopy};
pub use registry::{NewTenant, RegistryBackend, SqlRegistry, Switch};
pub use repo::TENANT_SETTING;
#[cfg(feature = "postgres")]
pub use repo::{RLS_SCHEMA, TENANT_POLICY};
#[cfg(feature = "postgres")]
pub use rollout::{
    MigrationReport, MigrationTarget, TenantFailure, TenantMigrated, TenantMigrations,
};
#[cfg(feature = "postgres")]
pub use row_security::RowSecurity;
#[cfg(feature = "postgres")]
pub use schema::TenantSchema;
#[cfg(feature = "macros")]
#[doc = include_str!("docs/checked.md")]
pub use tenant_macros::query;
/// A checked query whose rows decode into a type with sqlx's `FromRow` (a struct deriving it, or
/// a tuple): `query_as!(ctx, [shared(..),] Row, "SQL", args..)`. Everything else as [`query!`].
///
/// ```
/// use tenant::{tenant_scoped, Plan, TenantCtx, TenantId};
///
/// #[tenant_scoped(table = "customers")]
/// pub struct Customer { #[key] pub id: i64, #[tenant] pub tenant_id: TenantId, pub name: String }
/// #[tenant_scoped(table = "orders")]
/// pub struct Order { #[key] pub id: i64, #[tenant] pub tenant_id: TenantId, pub customer_id: i64, pub cents: i64 }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let acme = TenantCtx::trusted("acme".parse()?, "tenant_acme".parse()?, Plan::Free);
/// let pool = sqlx::SqlitePool::connect("sqlite::memory:").await?;
/// CustomerRepo::new(&pool).create_table().await?;
/// OrderRepo::new(&pool).create_table().await?;
/// CustomerRepo::new(&pool).insert(&acme, NewCustomer { id: 1, name: "Ann".into() }).await?;
/// OrderRepo::new(&pool).insert(&acme, NewOrder { id: 1, customer_id: 1, cents: 250 }).await?;
///
/// // Both sides restricted to acme: the join cannot reach another tenant's customer 1.
/// let totals: Vec<(String, i64)> = tenant::sqlx::query_as!(
///     &acme,
///     (String, i64),
///     "SELECT c.name, sum(o.cents) FROM {Customer} c JOIN {Order} o ON o.customer_id = c.id GROUP BY c.name",
/// )
/// .fetch_all(&pool)
/// .await?;
/// assert_eq!(totals, [("Ann".to_owned(), 250)]);
/// # Ok(())
/// # }
/// ```
#[cfg(feature = "macros")]
pub use tenant_macros::query_as;
/// A checked query whose rows are their first column, decoded into a type:
/// `query_scalar!(ctx, [shared(..),] Type, "SQL", args..)`. Everything else as [`query!`].
///
/// ```
/// use tenant::{tenant_scoped, Plan, TenantCtx, TenantId};
///
/// #[tenant_scoped(table = "notes")]
/// pub struct Note { #[key] pub id: i64, #[tenant] pub tenant_id: TenantId, pub body: String }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let acme = TenantCtx::trusted("acme".parse()?, "tenant_acme".parse()?, Plan::Free);
/// let pool = sqlx::SqlitePool::connect("sqlite::memory:").await?;
/// NoteRepo::new(&pool).create_table().await?;
/// let longest: Option<i64> =
///     tenant::sqlx::query_scalar!(&acme, Option<i64>, "SELECT max(length(body)) FROM {Note}")
///         .fetch_one(&pool)
///         .await?;
/// assert_eq!(longest, None);
/// # Ok(())
/// # }
/// ```
#[cfg(feature = "macros")]
pub use tenant_macros::query_scalar;
pub use tenant_tx::TenantTx;

pub use repo::{
    Backend, BelongsTo, CURSOR_KEY_ENV, Col, Conn, Cursor, CursorError, CursorKey, Entity, Filter,
    Order, Orderable, Page, PageRequest, Repo, Select, SqlType, SuppliedKey, TenantColumn,
    TextColumn, WriteConn,
};
/// A value a [`Filter`] binds (sea-query's). Comparing a column of a type of your own needs
/// `impl From<YourType> for tenant::sqlx::Value`, and, for an `Option<YourType>` column,
/// [`Nullable`] too (`is_null` needs neither).
///
/// ```
/// use tenant::sqlx::{Nullable, Value};
///
/// #[derive(Clone, Copy)]
/// pub enum Status { Open, Paid }
///
/// impl From<Status> for Value {
///     fn from(status: Status) -> Value {
///         Value::from(match status { Status::Open => "open", Status::Paid => "paid" })
///     }
/// }
///
/// impl Nullable for Status {
///     fn null() -> Value {
///         Value::String(None)
///     }
/// }
/// ```
pub use sea_query::{Nullable, Value};

/// Re-exports for the code `#[tenant_scoped]` generates. Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::repo::{
        ColumnMeta, ColumnRole, ColumnValue, Dialect, EntityIo, EntityMeta, ForeignKeyOf, Query,
        SqlType, Statements, TenantColumn,
    };
    pub use sea_query::ColumnType;
    pub use sqlx;
    /// What the checked query macros expand to.
    pub mod checked {
        pub use crate::checked::{
            CheckedQuery, CheckedQueryAs, CheckedQueryScalar, CheckedSql, Piece, Reads, Writes,
            refuse_tenant_column, refused,
        };
        pub use crate::repo::EntityMeta;
    }
}
