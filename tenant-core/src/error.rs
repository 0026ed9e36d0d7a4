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
    /// The database reported an error.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}
