//! The tenant registry: which tenants exist, their plan and schema, and whether they are active.
//! The request boundary looks tenants up here before it builds a [`TenantCtx`](crate::TenantCtx).
//!
//! | type | what it is |
//! |---|---|
//! | [`Tenant`] | one tenant's record |
//! | [`TenantRegistry`] | the lookup trait: by id and by slug |
//! | [`InMemoryRegistry`] | a fixed set of tenants, from configuration |
//! | `SqlRegistry` (crate `tenant-sqlx`, feature `sqlx` of the facade) | the `tenants` table on SQLite or PostgreSQL |
//! | [`CachedRegistry`] | wraps any registry; caches hits and misses for a bounded time, in bounded memory |
//! | [`FloodGuard`] | under the cache: one lookup in flight per key, a budget for lookups of unknown ids |
//!
//! A registry lookup returns the tenant whether it is active or not; refusing inactive tenants
//! is the caller's decision (the request boundary refuses them).
//!
//! ```
//! use std::time::Duration;
//! use tenant::registry::{CachedRegistry, InMemoryRegistry};
//! use tenant::{TenantId, TenantRegistry};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let ids: Vec<TenantId> = vec!["acme".parse()?, "globex".parse()?];
//! let configured = InMemoryRegistry::from_ids(ids)?;
//! let registry = CachedRegistry::new(configured, Duration::from_secs(30), 10_000);
//!
//! let acme = registry.find_by_slug(&"acme".parse()?).await?.expect("configured");
//! assert_eq!(acme.schema_name.as_str(), "tenant_acme");
//! assert!(registry.find_by_id(&"initech".parse()?).await?.is_none());
//! # Ok(())
//! # }
//! ```

mod cached;
mod guard;
mod memory;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::{Limits, Placement, Plan, SchemaName, TenantId};

pub use cached::{CacheStats, CachedRegistry, DEFAULT_NOT_FOUND_TTL};
pub use guard::{DEFAULT_KNOWN_KEYS, FloodGuard, GuardError, OverBudget, ZeroBudget, over_budget};
pub use memory::InMemoryRegistry;

/// One tenant, as the registry stores it.
#[derive(Debug, Clone, PartialEq)]
pub struct Tenant {
    /// The tenant's id: what `TenantCtx::tenant_id` and the `X-Tenant-ID` header carry.
    pub id: TenantId,
    /// The unique, indexed slug used in subdomains and path segments. Same grammar as a
    /// [`TenantId`] (a DNS label), so it is one.
    pub slug: TenantId,
    /// Display name.
    pub name: String,
    /// Subscription plan: decides the fairness weight.
    pub plan: Plan,
    /// The tenant's database schema.
    pub schema_name: SchemaName,
    /// Which database holds the tenant's rows, and in which tier: what a verified context
    /// carries ([`TenantCtx::placement`](crate::TenantCtx::placement)).
    pub placement: Placement,
    /// The tenant's own limits at the request boundary, instead of its plan's (`None`: its
    /// plan's, as configured on `tenant::http::FairLayer`). What a verified context carries
    /// ([`TenantCtx::limits`](crate::TenantCtx::limits)).
    pub limits: Option<Limits>,
    /// An inactive tenant resolves to an error, never to a context.
    pub is_active: bool,
    /// When the tenant was created.
    pub created_at: SystemTime,
    /// When the record last changed.
    pub updated_at: SystemTime,
}

/// Where tenants are looked up. Implemented by the in-memory registry built from configuration,
/// by the sqlx-backed store, and by the caching wrapper around either.
///
/// A lookup that fails (the store is down, a row is corrupt) is the registry's own `Error`, which
/// callers pass on and never read as "no such tenant".
pub trait TenantRegistry: Send + Sync {
    /// Why a lookup failed: [`Infallible`](std::convert::Infallible) for a registry in memory,
    /// the store's error otherwise.
    type Error: std::error::Error + Send + Sync + 'static;

    /// The tenant with this id, active or not.
    fn find_by_id(
        &self,
        id: &TenantId,
    ) -> impl Future<Output = Result<Option<Tenant>, Self::Error>> + Send;

    /// The tenant with this slug, active or not.
    fn find_by_slug(
        &self,
        slug: &TenantId,
    ) -> impl Future<Output = Result<Option<Tenant>, Self::Error>> + Send;
}

impl<R: TenantRegistry> TenantRegistry for &R {
    type Error = R::Error;

    fn find_by_id(
        &self,
        id: &TenantId,
    ) -> impl Future<Output = Result<Option<Tenant>, Self::Error>> + Send {
        (**self).find_by_id(id)
    }

    fn find_by_slug(
        &self,
        slug: &TenantId,
    ) -> impl Future<Output = Result<Option<Tenant>, Self::Error>> + Send {
        (**self).find_by_slug(slug)
    }
}

/// A registry shared between tasks (say, in an axum state) is a registry.
///
/// ```
/// use std::sync::Arc;
/// use tenant::registry::InMemoryRegistry;
/// use tenant::TenantRegistry;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let shared = Arc::new(InMemoryRegistry::from_ids(["acme".parse()?])?);
/// let handle = Arc::clone(&shared);
/// let found = tokio::spawn(async move { handle.find_by_id(&"acme".parse().unwrap()).await })
///     .await
///     .unwrap()?;
/// assert!(found.is_some());
/// # Ok(())
/// # }
/// ```
impl<R: TenantRegistry> TenantRegistry for Arc<R> {
    type Error = R::Error;

    fn find_by_id(
        &self,
        id: &TenantId,
    ) -> impl Future<Output = Result<Option<Tenant>, Self::Error>> + Send {
        (**self).find_by_id(id)
    }

    fn find_by_slug(
        &self,
        slug: &TenantId,
    ) -> impl Future<Output = Result<Option<Tenant>, Self::Error>> + Send {
        (**self).find_by_slug(slug)
    }
}

/// `time` as whole milliseconds since the Unix epoch (negative before it), saturating at the
/// ends of `i64`: how registries and event envelopes store an instant.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use tenant::registry::{from_unix_millis, to_unix_millis};
///
/// let t = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
/// assert_eq!(to_unix_millis(t), 1_700_000_000_123);
/// assert_eq!(from_unix_millis(-1).map(to_unix_millis), Some(-1));
/// ```
pub fn to_unix_millis(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_millis()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_millis())
            .map(i64::wrapping_neg)
            .unwrap_or(i64::MIN),
    }
}

/// The instant `millis` milliseconds after the Unix epoch (before it if negative), or `None` if
/// the platform's `SystemTime` cannot represent it. The inverse of [`to_unix_millis`].
pub fn from_unix_millis(millis: i64) -> Option<SystemTime> {
    let magnitude = Duration::from_millis(millis.unsigned_abs());
    if millis >= 0 {
        UNIX_EPOCH.checked_add(magnitude)
    } else {
        UNIX_EPOCH.checked_sub(magnitude)
    }
}

/// Now, truncated to the millisecond (so that a record written and read back compares equal):
/// as milliseconds since the Unix epoch and as the instant they stand for.
pub fn now_unix_millis() -> (i64, SystemTime) {
    let millis = to_unix_millis(SystemTime::now());
    (millis, from_unix_millis(millis).unwrap_or(UNIX_EPOCH))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millis_round_trip() {
        for millis in [
            0,
            1,
            -1,
            1_700_000_000_123,
            -86_400_000,
            i64::MAX / 4,
            i64::MIN / 4,
        ] {
            assert_eq!(
                from_unix_millis(millis).map(to_unix_millis),
                Some(millis),
                "{millis}"
            );
        }
        let (millis, time) = now_unix_millis();
        assert_eq!(to_unix_millis(time), millis);
        assert!(millis > 1_600_000_000_000);
    }
}
