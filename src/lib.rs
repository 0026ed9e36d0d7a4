#![doc = include_str!("docs/crate.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

// The README is the forge's landing page, not this crate's documentation; its examples are
// compiled and run here so that it cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

// The guides the README links to, compiled and run for the same reason.
#[cfg(doctest)]
#[doc = include_str!("../docs/service.md")]
struct ServiceGuideDoctests;

#[cfg(doctest)]
#[doc = include_str!("../docs/raw-sql.md")]
struct RawSqlGuideDoctests;

#[cfg(doctest)]
#[doc = include_str!("../docs/placement.md")]
struct PlacementGuideDoctests;

#[cfg(doctest)]
#[doc = include_str!("../docs/noisy-neighbours.md")]
struct NoisyNeighboursGuideDoctests;

#[cfg(doctest)]
#[doc = include_str!("../docs/prove-it.md")]
struct ProveItGuideDoctests;

#[cfg(doctest)]
#[doc = include_str!("../docs/operating.md")]
struct OperatingGuideDoctests;

pub use tenant_core::{
    AUDIT_TARGET, AuthenticatedUser, CachedRegistry, ClaimError, CollectionName, ConfigError,
    DEFAULT_FULL_WEIGHT, DatabaseLabel, Error, InMemoryRegistry, Limits, PLAN_NAME_MAX_LEN,
    Placement, PlacementError, Plan, PlanWeights, ProvisionCtx, Provisioning, SchemaName,
    SchemaNameError, ScopedKey, SignatureError, SignedClaim, SigningKeys, SigningKeysError,
    SystemCtx, SystemToken, TENANT_ID_MAX_LEN, TenancyConfig, Tenant, TenantClaim, TenantCtx,
    TenantId, TenantIdError, TenantRegistry, Tier, claim, config, labels, limits, names, placement,
    registry, request, routing, signed, signing,
};

/// Tenant-scoped repositories over sqlx and the SQL tenant registry: the crate `tenant-sqlx`.
#[cfg(feature = "sqlx")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlx")))]
pub use tenant_sqlx as sqlx;

/// The request boundary: the crate `tenant-http` (feature `axum` for the extractor and layer).
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub use tenant_http as http;

/// The tenant cache and tenant events on Redis: the crate `tenant-redis`.
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use tenant_redis as redis;

/// Tenant activities of the Temporal Rust SDK: the crate `tenant-temporal`.
#[cfg(feature = "temporal")]
#[cfg_attr(docsrs, doc(cfg(feature = "temporal")))]
pub use tenant_temporal as temporal;

#[cfg(feature = "temporal")]
#[cfg_attr(docsrs, doc(cfg(feature = "temporal")))]
#[doc(inline)]
pub use tenant_temporal::activities;

/// Re-exports for the code the macros generate. Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use serde;
    #[cfg(feature = "sqlx")]
    pub use tenant_sqlx::__private::*;
    /// What `#[tenant::activities]` expands to.
    #[cfg(feature = "temporal")]
    pub mod temporal {
        pub use tenant_temporal::__private::*;
    }
}

/// Makes a struct a row of a tenant-owned table and generates its tenant-scoped repository.
///
/// ```
/// use tenant::{tenant_scoped, TenantId};
///
/// #[tenant_scoped(table = "invoices")]
/// #[derive(Debug, Clone, PartialEq)]
/// pub struct Invoice {
///     #[key]
///     pub id: i64,
///     #[tenant]
///     pub tenant_id: TenantId,
///     #[unique]
///     pub number: String,
///     #[index]
///     pub customer: String,
///     pub amount_cents: i64,
///     pub memo: Option<String>,
/// }
///
/// // Generated next to it:
/// let new = NewInvoice {
///     id: 1,
///     number: "A-1".into(),
///     customer: "acme".into(),
///     amount_cents: 100,
///     memo: None,
/// };
/// let patch = InvoicePatch { memo: Some(None), ..Default::default() };
/// let filter = Invoice::columns().amount_cents.gt(50);
/// fn repo(pool: &sqlx::SqlitePool) -> InvoiceRepo<&sqlx::SqlitePool> {
///     InvoiceRepo::new(pool)
/// }
/// # let _ = (new, patch, filter, repo);
/// ```
///
/// # Arguments
///
/// - `table = "name"` (required): the table, a plain SQL identifier.
///
/// # Field attributes
///
/// | attribute | meaning |
/// |---|---|
/// | `#[tenant]` | exactly one field, of type [`TenantId`]: the owning tenant. Set from the [`TenantCtx`] on insert, never by the caller; the first column of the primary key and of every index. |
/// | `#[key]` | exactly one field, not an `Option`: identifies a row within its tenant. Primary key `(tenant, key)`. |
/// | `#[key(generated)]` | the database generates the key (`i16`, `i32` or `i64`): not a field of `NewInvoice`, returned by `insert`. PostgreSQL: an identity column, primary key `(tenant, key)`; SQLite: `INTEGER PRIMARY KEY AUTOINCREMENT` plus a unique index on `(tenant, key)` (keys unique across tenants). Such an entity has no `upsert`. |
/// | `#[column(default = "SQL")]` | the column's DDL `DEFAULT`, an SQL expression: not a field of `NewInvoice`, filled by the database and returned by `insert`; still patchable. |
/// | `#[column(type = "TEXT")]` | the column's DDL type, for a type of your own that implements sqlx's `Type`, `Encode` and `Decode` (an enum stored as text, a newtype). A type name alone (`NUMERIC(12, 2)`, `DOUBLE PRECISION`, `TEXT[]`): a constraint there would not lead with the tenant, so `UNIQUE`, `REFERENCES`, `DEFAULT`, `NOT NULL` and the like do not compile; use `#[unique]`, `#[belongs_to]`, `default`, `Option`. |
/// | `#[belongs_to(Customer)]` | a composite foreign key `(tenant, column) REFERENCES customers (tenant, key)`: a row never points at another tenant's row. `Customer` must be a `#[tenant_scoped]` entity with the column's key type; `Option` makes it nullable. Enables `Repo::with_parent::<Customer>`. |
/// | `#[unique]` | the column is unique per tenant: two tenants may hold the same value. |
/// | `#[index]` | an index on `(tenant, column)`. |
///
/// Other attributes (`#[doc]`, `#[serde(..)]`, lints) pass through; one that looks like a typo
/// of ours (`#[tenent]`, `#[Key]`, `#[tenant_id]`) is an error rather than silently ignored.
///
/// # Generated items
///
/// For `struct Invoice`, with the struct's visibility:
/// - `NewInvoice`: every field but the tenant's, a generated key's and those with a default.
///   Argument of `insert`, `insert_many` and `upsert`.
/// - `InvoicePatch`: `Option<T>` of every field but key and tenant, `Default`. Argument of
///   `update`, `update_where` and `upsert`; `None` leaves a column alone.
/// - `InvoiceColumns` and `Invoice::columns()`: a typed [`Col`](crate::sqlx::Col) per non-tenant column, for
///   [`Repo::list_where`](crate::sqlx::Repo::list_where) filters.
/// - `InvoiceRepo<X>`: an alias of [`Repo<Invoice, X>`](crate::sqlx::Repo), the repository over a pool,
///   connection or transaction `X`.
/// - impls of [`Entity`](crate::sqlx::Entity) and of the hidden traits the repository runs through.
///
/// The std and serde derives of the entity that also hold for a subset of its fields (`Debug`,
/// `Clone`, `Copy`, `PartialEq`, `Eq`, `Hash`, `PartialOrd`, `Ord`, `Serialize`,
/// `Deserialize`) are repeated on `NewInvoice` and `InvoicePatch` when written below
/// `#[tenant_scoped]`.
///
/// # Serde attributes on `NewInvoice` and `InvoicePatch`
///
/// A field's `#[serde(..)]` is copied to `NewInvoice` as written. `InvoicePatch` holds an
/// `Option` of the field, so there it is translated: `with`, `serialize_with` and
/// `deserialize_with` are called through wrappers for `Some` (`None` is `null`, a missing field
/// `None`); `rename`, `alias`, `skip`, `default` and the rest are copied. Two attributes judge or
/// make a value of the field's type and mean something else for a patch, so they do not compile
/// unless the field says what its Patch field gets with `#[patch(serde(..))]`:
/// `default = ".."` (a field missing from a patch already is `None`, left alone) and
/// `skip_serializing_if = ".."` (a skipped change would read back as "leave alone";
/// `"Option::is_none"` is copied). `#[patch(serde(..))]` replaces the field's serde attributes on
/// the Patch, and only there.
///
/// ```
/// use tenant::{tenant_scoped, TenantId};
///
/// #[tenant_scoped(table = "events")]
/// #[derive(Debug, serde::Serialize, serde::Deserialize)]
/// pub struct Event {
///     #[key] pub id: i64,
///     #[tenant] pub tenant_id: TenantId,
///     #[serde(with = "my_timestamp", rename = "at")]
///     pub happened_at: i64,
///     #[serde(default = "one", skip_serializing_if = "is_one")]
///     #[patch(serde(default, skip_serializing_if = "Option::is_none"))]
///     pub weight: i64,
/// }
/// # fn one() -> i64 { 1 }
/// # fn is_one(weight: &i64) -> bool { *weight == 1 }
/// mod my_timestamp {
///     pub fn serialize<S: serde::Serializer>(seconds: &i64, s: S) -> Result<S::Ok, S::Error> {
///         s.serialize_str(&format!("{seconds}s"))
///     }
///     pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
///         let text = <String as serde::Deserialize>::deserialize(d)?;
///         text.trim_end_matches('s').parse().map_err(serde::de::Error::custom)
///     }
/// }
///
/// let patch = EventPatch { happened_at: Some(60), ..Default::default() };
/// assert_eq!(serde_json::to_string(&patch).unwrap(), r#"{"at":"60s"}"#);
/// let patch: EventPatch = serde_json::from_str("{}").unwrap();
/// assert!(patch.happened_at.is_none() && patch.weight.is_none());
/// ```
#[cfg(feature = "sqlx")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlx")))]
pub use tenant_macros::tenant_scoped;
