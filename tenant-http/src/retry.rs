//! [`RetryLater`]: the answer to a request whose tenant cannot be served for a moment (its data
//! is being moved), as an RFC 9457 problem with `Retry-After`.

use std::time::Duration;

use crate::problem::Problem;

/// A tenant that is temporarily unavailable: fenced while a move copies its data, or moved a
/// moment ago and not yet found at its new place. `503 Service Unavailable` with a
/// `Retry-After` header (whole seconds, at least 1) and the problem class `tenant-moving`.
///
/// Answer with it when a data call fails with a retryable error
/// (`tenant::sqlx::Error::is_retryable`: `Fenced`, or `Moved` after one retry). Like every
/// problem here, the body names no tenant.
///
/// ```
/// use std::time::Duration;
/// use tenant::http::RetryLater;
///
/// let later = RetryLater::new(Duration::from_millis(1500));
/// assert_eq!(later.retry_after_secs(), 2);
/// let problem = later.problem();
/// assert_eq!((problem.status, problem.type_uri), (503, "urn:tenant:problem:tenant-moving"));
/// assert!(!problem.detail.contains("acme"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryLater {
    retry_after: Duration,
}

impl RetryLater {
    /// Retry after `retry_after` (rounded up to whole seconds, at least one).
    pub fn new(retry_after: Duration) -> Self {
        RetryLater { retry_after }
    }

    /// The `Retry-After` value: whole seconds, rounded up, at least 1.
    pub fn retry_after_secs(&self) -> u64 {
        let secs = self.retry_after.as_secs();
        let rounded = if self.retry_after.subsec_nanos() > 0 {
            secs.saturating_add(1)
        } else {
            secs
        };
        rounded.max(1)
    }

    /// The problem document: status 503, class `tenant-moving`.
    pub fn problem(&self) -> Problem {
        Problem {
            type_uri: "urn:tenant:problem:tenant-moving",
            title: "Tenant temporarily unavailable",
            status: 503,
            detail: format!(
                "the tenant's data is being moved; retry after {} s",
                self.retry_after_secs()
            ),
        }
    }
}

/// `503` with `Retry-After` and the `application/problem+json` body of [`RetryLater::problem`].
///
/// ```
/// use std::time::Duration;
/// use axum::response::IntoResponse;
/// use tenant::http::RetryLater;
///
/// let response = RetryLater::new(Duration::from_secs(3)).into_response();
/// assert_eq!(response.status(), 503);
/// assert_eq!(response.headers()["retry-after"], "3");
/// assert_eq!(response.headers()["content-type"], "application/problem+json");
/// ```
#[cfg(feature = "axum")]
impl axum_core::response::IntoResponse for RetryLater {
    fn into_response(self) -> axum_core::response::Response {
        let body = serde_json::to_vec(&self.problem()).unwrap_or_default();
        (
            http::StatusCode::SERVICE_UNAVAILABLE,
            [
                (http::header::CONTENT_TYPE, crate::PROBLEM_JSON.to_owned()),
                (
                    http::header::RETRY_AFTER,
                    self.retry_after_secs().to_string(),
                ),
            ],
            body,
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_whole_seconds_at_least_one() {
        for (given, secs) in [
            (Duration::ZERO, 1),
            (Duration::from_millis(1), 1),
            (Duration::from_secs(1), 1),
            (Duration::from_millis(1001), 2),
            (Duration::from_secs(30), 30),
            (Duration::MAX, u64::MAX),
        ] {
            assert_eq!(RetryLater::new(given).retry_after_secs(), secs, "{given:?}");
        }
    }
}
