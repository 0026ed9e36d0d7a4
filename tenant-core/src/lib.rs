//! Core types of the [`tenant`](https://docs.rs/tenant) crate: the tenant's identity and context,
//! the audited cross-tenant and provisioning contexts, routing, tenant-scoped names,
//! configuration and the tenant registry, and the signing keys of claims. It depends on serde,
//! thiserror, tracing, fnv, and hmac, sha2, base64 and zeroize for the key ring. Its features `sqlx`, `redis` and
//! `axum` add only the trait impls the orphan rule puts here: sqlx decoding of [`TenantId`],
//! `ToRedisArgs` for [`ScopedKey`], and the `TenantCtx` extractor of axum, whose resolver is
//! `tenant-http`'s. Use it through the `tenant` facade, which adds the integrations
//! (`tenant-sqlx`, `tenant-http`, `tenant-redis`, `tenant-temporal`) behind features.
#![doc = include_str!("docs/concepts.md")]

#[cfg(feature = "axum")]
pub mod axum;
pub mod claim;
pub mod config;
mod ctx;
mod error;
mod id;
pub mod labels;
pub mod limits;
pub mod names;
pub mod placement;
mod plan;
mod provision;
pub mod registry;
pub mod request;
pub mod routing;
mod schema;
pub mod signed;
pub mod signing;
mod system;

pub use claim::{ClaimError, TenantClaim};
pub use config::{ConfigError, TenancyConfig};
pub use ctx::{FromUserHook, TenantCtx};
pub use error::Error;
pub use id::{TENANT_ID_MAX_LEN, TenantId, TenantIdError};
pub use limits::Limits;
pub use names::{CollectionName, ScopedKey};
pub use placement::{DatabaseLabel, Placement, PlacementError, Tier};
pub use plan::{DEFAULT_FULL_WEIGHT, PLAN_NAME_MAX_LEN, Plan, PlanWeights};
pub use provision::{ProvisionCtx, Provisioning};
pub use registry::{CachedRegistry, InMemoryRegistry, Tenant, TenantRegistry};
pub use request::{AuthenticatedUser, Resolved};
pub use schema::{SchemaName, SchemaNameError};
pub use signed::{SignedClaim, SystemToken};
pub use signing::{SignatureError, SigningKeys, SigningKeysError};
pub use system::{AUDIT_TARGET, SystemCtx};
