//! The crate's error type.

use crate::TenantIdError;

/// Everything that can go wrong in `tenant`: invalid input is a typed variant, never a panic and
/// never a silent fallback to another tenant.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A tenant id failed validation.
    #[error("invalid tenant id: {0}")]
    InvalidTenantId(#[from] TenantIdError),
    /// A schema name failed validation.
    #[error(
        "invalid schema name: expected 1 to 63 bytes of lowercase ASCII letters, digits and '_', not starting with a digit"
    )]
    InvalidSchemaName,
    /// A plan name failed validation.
    #[error("invalid plan name: expected 1 to 64 printable ASCII bytes")]
    InvalidPlan,
    /// A plan weight override could not be parsed.
    #[error(
        "invalid plan weight {entry:?}: expected `free|pro|enterprise|other=<positive number>`"
    )]
    InvalidPlanWeights {
        /// The offending entry (truncated).
        entry: String,
    },
    /// A [`SystemCtx`](crate::SystemCtx) was requested without a reason.
    #[error("a system context needs a non-empty reason for the audit log")]
    MissingReason,
    /// An update was asked to change nothing.
    #[error("the patch sets no field; nothing to update")]
    EmptyPatch,
    /// A write collided with an existing row of the same tenant: same `#[key]` or same
    /// `#[unique]` value. Another tenant's rows never collide.
    #[error("{table}: a row of this tenant already has this key or unique value")]
    Conflict {
        /// The entity's table.
        table: &'static str,
        /// The database's report.
        #[source]
        source: sqlx::Error,
    },
    /// A registry was given two tenants with the same id, or with the same slug.
    #[error("two tenants have the same {field} `{value}`")]
    DuplicateTenant {
        /// Which field collides: `"id"` or `"slug"`.
        field: &'static str,
        /// The value both tenants have.
        value: crate::TenantId,
    },
    /// A fairness key was empty or longer than Temporal's 64 bytes.
    #[error("a fairness key must be 1 to 64 bytes, not {len}")]
    InvalidFairnessKey {
        /// Length of the rejected key.
        len: usize,
    },
    /// A fairness weight was outside Temporal's range [0.001, 1000].
    #[error("a fairness weight must be within [0.001, 1000]")]
    InvalidFairnessWeight,
    /// The database reported an error.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A key-value key relative to the tenant was empty.
    #[error("a cache key relative to the tenant must not be empty")]
    EmptyCacheKey,
    /// A collection name failed validation or would not fit the store's limits.
    #[error("invalid collection name: {0}")]
    InvalidCollectionName(#[from] crate::keys::CollectionNameError),
    /// A cache namespace was not 1 to 64 bytes of ASCII letters, digits, `_`, `-` and `.`.
    #[cfg(feature = "redis")]
    #[error(
        "invalid cache namespace: expected 1 to 64 bytes of ASCII letters, digits, '_', '-' and '.'"
    )]
    InvalidNamespace,
    /// Redis reported an error.
    #[cfg(feature = "redis")]
    #[error("redis error: {0}")]
    Redis(#[from] redis::RedisError),
    /// An event payload could not be encoded as JSON.
    #[cfg(feature = "redis")]
    #[error("could not encode the event: {0}")]
    EventEncoding(#[source] serde_json::Error),
}

impl Error {
    /// Classifies a database error of a write to `table`.
    pub(crate) fn from_write(table: &'static str, source: sqlx::Error) -> Self {
        let unique = matches!(&source, sqlx::Error::Database(db) if db.is_unique_violation());
        if unique {
            Error::Conflict { table, source }
        } else {
            Error::Database(source)
        }
    }
}
