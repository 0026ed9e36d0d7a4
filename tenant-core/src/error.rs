//! The core error type. Each integration crate has its own (`tenant_sqlx::Error`, ...).

use crate::{SchemaName, SchemaNameError, TenantIdError};

/// What can go wrong with the core types: invalid input is a typed variant, never a panic and
/// never a silent fallback to another tenant.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A tenant id failed validation. Shown as the [`TenantIdError`] it wraps (which names the
    /// tenant id), not with it again as its source.
    #[error(transparent)]
    InvalidTenantId(#[from] TenantIdError),
    /// A schema name failed validation.
    #[error("{}", SchemaNameError::Invalid)]
    InvalidSchemaName,
    /// A schema name is valid but never a tenant's: a shared or system schema (`public`,
    /// `pg_*`, `information_schema`) or a reserved SQL key word.
    #[error("{}", SchemaNameError::Reserved)]
    ReservedSchemaName,
    /// Two tenants were given the same schema.
    #[error("two tenants have the same schema `{schema}`")]
    DuplicateSchema {
        /// The schema both tenants have.
        schema: SchemaName,
    },
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
    /// A [`SystemCtx`](crate::SystemCtx) or a [`ProvisionCtx`](crate::ProvisionCtx) was
    /// requested without a reason.
    #[error("a system or provisioning context needs a non-empty reason for the audit log")]
    MissingReason,
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
    /// A key relative to the tenant was empty ([`TenantCtx::scoped_key`](crate::TenantCtx::scoped_key)).
    #[error("a key relative to the tenant must not be empty")]
    EmptyScopedKey,
    /// A collection name failed validation or would not fit the store's limits.
    #[error(transparent)]
    InvalidCollectionName(#[from] crate::names::CollectionNameError),
}

impl From<SchemaNameError> for Error {
    fn from(error: SchemaNameError) -> Self {
        match error {
            SchemaNameError::Invalid => Error::InvalidSchemaName,
            SchemaNameError::Reserved => Error::ReservedSchemaName,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Error;
    use std::error::Error as _;

    /// Walks the chain as anyhow and eyre print it: each message once, then its source's.
    fn chain(err: &dyn std::error::Error) -> Vec<String> {
        let mut out = vec![err.to_string()];
        let mut next = err.source();
        while let Some(err) = next {
            out.push(err.to_string());
            next = err.source();
        }
        out
    }

    #[test]
    fn a_wrapped_error_is_shown_once_in_the_chain() {
        let id = "Acme".parse::<crate::TenantId>().unwrap_err();
        let err = Error::from(id.clone());
        assert_eq!(chain(&err), [id.to_string()]);

        let name = crate::names::CollectionNameError::Empty;
        let err = Error::from(name.clone());
        assert_eq!(chain(&err), [name.to_string()]);
        assert!(err.source().is_none());
    }
}
