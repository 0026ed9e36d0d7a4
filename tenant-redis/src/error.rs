//! What the cache and the event streams can fail with.

/// What the cache and the event streams can fail with: a typed variant, never a panic.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A cache namespace was not 1 to 64 bytes of ASCII letters, digits, `_`, `-` and `.`.
    #[error(
        "invalid cache namespace: expected 1 to 64 bytes of ASCII letters, digits, '_', '-' and '.'"
    )]
    InvalidNamespace,
    /// Redis reported an error.
    #[error("redis error: {0}")]
    Redis(#[from] redis::RedisError),
    /// An event payload could not be encoded as JSON.
    #[error("could not encode the event: {0}")]
    EventEncoding(#[source] serde_json::Error),
    /// [`TenantCache::scan`](crate::TenantCache::scan) found more keys than its limit
    /// ([`TenantCache::with_scan_limit`](crate::TenantCache::with_scan_limit)) and returned none.
    #[error("the scan found more than {limit} keys: narrow the prefix or raise the scan limit")]
    ScanLimitExceeded {
        /// The limit that was exceeded.
        limit: usize,
    },
    /// Signing keys were refused (see [`SigningKeys::parse`](crate::SigningKeys::parse)).
    #[error(transparent)]
    SigningKeys(#[from] crate::SigningKeysError),
    /// A core value was invalid (an empty key relative to the tenant, ...).
    #[error(transparent)]
    Core(#[from] tenant_core::Error),
}

/// So that `"acme".parse()?` works where this error is returned.
impl From<tenant_core::TenantIdError> for Error {
    fn from(error: tenant_core::TenantIdError) -> Self {
        Error::Core(error.into())
    }
}
