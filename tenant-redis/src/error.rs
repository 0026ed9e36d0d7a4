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
    /// Redis reported an error: the [`source`](std::error::Error::source), which the message
    /// does not repeat (an error report prints the chain).
    #[error("redis error")]
    Redis(#[from] redis::RedisError),
    /// An event payload could not be encoded as JSON: the serde error is the
    /// [`source`](std::error::Error::source).
    #[error("could not encode the event")]
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

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    /// A report that prints the chain (anyhow, eyre) shows the cause once, not twice.
    #[test]
    fn a_wrapped_error_is_the_source_and_not_in_the_message() {
        let redis = redis::RedisError::from((
            redis::ErrorKind::UnexpectedReturnType,
            "unexpected stream reply",
            "entries: Int(3)".to_owned(),
        ));
        let error = Error::from(redis);
        assert_eq!(error.to_string(), "redis error");
        assert!(error.source().unwrap().to_string().contains("Int(3)"));

        let json = serde_json::from_str::<u8>("x").unwrap_err();
        let error = Error::EventEncoding(json);
        assert_eq!(error.to_string(), "could not encode the event");
        assert!(error.source().is_some());
    }
}
