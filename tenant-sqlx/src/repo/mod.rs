//! Tenant-scoped repositories: the runtime behind `#[tenant_scoped]`.
//!
//! Layers, bottom-up; a module imports only from layers below it (or, at the bottom, from
//! `meta`): declarations, values and dialects (`meta`; `value`, `dialect`, `shape`, `rls`) →
//! SQL building (`sql`) → the statement cache (`statements`) → backends (`backend`) → entities
//! and their typed filters and orders (`entity`, `filter`, `order`) → cursors (`cursor`) → the
//! repository (`repository`, `write`, `page`, `relation`, `row_security`). Above them all, in
//! the crate: transactions, schemas, migrations and the audit. This module only re-exports.

mod backend;
pub(crate) mod cursor;
pub(crate) mod dialect;
mod entity;
mod filter;
pub(crate) mod meta;
mod order;
mod page;
mod relation;
mod repository;
pub(crate) mod rls;
#[cfg(feature = "postgres")]
mod row_security;
mod shape;
mod sql;
mod statements;
mod value;
mod write;

pub(crate) use backend::Token;
pub use backend::{Backend, Conn, WriteConn};
pub use cursor::{CURSOR_KEY_ENV, Cursor, CursorError, CursorKey};
pub use dialect::Dialect;
pub use entity::{ColumnValue, Entity, EntityIo};
pub use filter::{Col, Filter, TextColumn};
pub(crate) use meta::creation_order;
pub use meta::{ColumnMeta, ColumnRole, EntityMeta, SqlType, TenantColumn};
pub use order::Order;
pub use page::{Page, PageRequest, Select};
pub use relation::{BelongsTo, ForeignKeyOf};
pub use repository::Repo;
pub use rls::TENANT_SETTING;
#[cfg(feature = "postgres")]
pub use rls::{RLS_SCHEMA, TENANT_POLICY};
pub(crate) use sql::ddl::{indexes, verify_index_sql};
pub use statements::Statements;
pub use value::{Orderable, Query};
pub use write::SuppliedKey;
