//! Runtime of the [`tenant`](https://docs.rs/tenant) crate. Use it through the `tenant` facade,
//! which re-exports everything here together with the `#[tenant_scoped]` macro.

#![warn(missing_docs, unreachable_pub)]

pub mod boundary;
#[cfg(feature = "redis")]
pub mod cache;
mod ctx;
mod error;
#[cfg(feature = "redis")]
pub mod events;
mod id;
pub mod keys;
mod plan;
pub mod registry;
pub mod repo;
pub mod routing;
mod system;
#[cfg(feature = "temporal")]
pub mod temporal;

#[cfg(feature = "redis")]
pub use cache::TenantCache;
pub use ctx::{SchemaName, TenantCtx};
pub use error::Error;
#[cfg(feature = "redis")]
pub use events::{EventConsumer, EventStream, TenantEvent};
pub use id::{TENANT_ID_MAX_LEN, TenantId, TenantIdError};
pub use keys::{CollectionName, ScopedKey};
pub use plan::{PLAN_NAME_MAX_LEN, Plan, PlanWeights};
pub use registry::{
    CachedRegistry, InMemoryRegistry, NewTenant, SqlRegistry, Tenant, TenantRegistry,
};
pub use repo::{Backend, Col, Conn, Entity, Filter, Repo};
pub use system::{AUDIT_TARGET, SystemCtx};

/// Re-exports for the code `#[tenant_scoped]` generates. Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::repo::{
        ColumnMeta, ColumnRole, ColumnValue, Dialect, EntityIo, EntityMeta, Query, SqlType,
        Statements, TenantColumn,
    };
    pub use sea_query::ColumnType;
    pub use serde;

    /// The `SystemCtx` of an `#[activity(system = "..")]`, whose reason the macro checked.
    pub fn system_ctx_for_activity(reason: &'static str) -> crate::SystemCtx {
        crate::SystemCtx::for_activity(reason)
    }
    pub use sqlx;

    /// What `#[tenant::activities]` expands to: the SDK's own impl-block macro, and the glue that
    /// opens each input before the method body runs.
    #[cfg(feature = "temporal")]
    pub mod temporal {
        pub use crate::temporal::{CarriesTenant, open_system_input, open_tenant_input};
        pub use temporalio_macros::activities;
    }
}
