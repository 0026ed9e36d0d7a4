//! [`Error`] at the HTTP edge: an RFC 9457 problem of the error's class, never naming a tenant.

use std::time::Duration;

use axum_core::response::{IntoResponse, Response};
use tenant_http::{Problem, RetryLater};

use crate::error::Error;
use crate::repo::CursorError;

/// How long a client waits before retrying a tenant that is being moved ([`Error::Fenced`]) or
/// was moved a moment ago ([`Error::Moved`]): a move's write-unavailability window is seconds
/// (BENCHMARKS.md, "Moving a tenant").
pub const MOVE_RETRY_AFTER: Duration = Duration::from_secs(2);

/// How long a client waits when no connection of the pool was free in time.
const POOL_RETRY_AFTER: Duration = Duration::from_secs(1);

/// A problem class: its URI, title, status and the fixed detail the caller is told.
struct Class {
    type_uri: &'static str,
    title: &'static str,
    status: u16,
    detail: &'static str,
}

const fn class(
    type_uri: &'static str,
    title: &'static str,
    status: u16,
    detail: &'static str,
) -> Class {
    Class {
        type_uri,
        title,
        status,
        detail,
    }
}

impl Error {
    /// The RFC 9457 problem the HTTP edge answers this error with. Its detail is a fixed
    /// sentence per class: it never names a tenant, a table or what the database said (the
    /// error itself, which may, goes to the log).
    ///
    /// | error | status | class (`urn:tenant:problem:…`) |
    /// |---|---|---|
    /// | [`Conflict`](Error::Conflict) | 409 | `conflict` |
    /// | [`ForeignKey`](Error::ForeignKey) | 422 | `foreign-key` |
    /// | [`EmptyPatch`](Error::EmptyPatch) | 422 | `empty-patch` |
    /// | [`Cursor`](Error::Cursor) (malformed, altered, another tenant's) | 400 | `invalid-cursor` |
    /// | [`Moved`](Error::Moved), [`Fenced`](Error::Fenced), [`DrainTimeout`](Error::DrainTimeout) (a move's own step) | 503 + `Retry-After` | `tenant-moving` |
    /// | [`StatementTimeout`](Error::StatementTimeout) | 503 | `statement-timeout` |
    /// | no pool connection in time (`sqlx::Error::PoolTimedOut`) | 503 + `Retry-After` | `database-busy` |
    /// | `sqlx::Error::RowNotFound` (a raw `fetch_one`) | 404 | `not-found` |
    /// | [`RowSecurityViolation`](Error::RowSecurityViolation) | 500 | `row-security-violation` |
    /// | [`TenantMismatch`](Error::TenantMismatch) | 500 | `tenant-mismatch` |
    /// | anything else | 500 | `internal-error` |
    ///
    /// ```
    /// use tenant::sqlx::Error;
    ///
    /// let moved = Error::Moved { tenant: "acme".parse()? }.problem();
    /// assert_eq!((moved.status, moved.type_uri), (503, "urn:tenant:problem:tenant-moving"));
    /// assert!(!moved.detail.contains("acme"));
    /// assert_eq!(Error::EmptyPatch.problem().status, 422);
    /// # Ok::<(), tenant::TenantIdError>(())
    /// ```
    pub fn problem(&self) -> Problem {
        if self.is_retryable() {
            return RetryLater::new(MOVE_RETRY_AFTER).problem();
        }
        let class = self.class();
        Problem {
            type_uri: class.type_uri,
            title: class.title,
            status: class.status,
            detail: class.detail.to_owned(),
        }
    }

    /// The `Retry-After` header of [`problem`](Self::problem)'s response, in seconds.
    fn retry_after_secs(&self) -> Option<u64> {
        if self.is_retryable() {
            Some(RetryLater::new(MOVE_RETRY_AFTER).retry_after_secs())
        } else if matches!(self, Error::Database(sqlx::Error::PoolTimedOut)) {
            Some(RetryLater::new(POOL_RETRY_AFTER).retry_after_secs())
        } else {
            None
        }
    }

    fn class(&self) -> Class {
        const INTERNAL: Class = class(
            "urn:tenant:problem:internal-error",
            "Internal error",
            500,
            "the request failed on the server",
        );
        match self {
            Error::Conflict { .. } => class(
                "urn:tenant:problem:conflict",
                "Conflict",
                409,
                "a row with this key or unique value already exists",
            ),
            Error::ForeignKey { .. } => class(
                "urn:tenant:problem:foreign-key",
                "Unknown reference",
                422,
                "the row refers to a row that does not exist, or a row still has rows referring to it",
            ),
            Error::EmptyPatch => class(
                "urn:tenant:problem:empty-patch",
                "Empty patch",
                422,
                "the patch sets no field",
            ),
            Error::Cursor(
                CursorError::Malformed { .. }
                | CursorError::Invalid
                | CursorError::ValueType { .. },
            ) => class(
                "urn:tenant:problem:invalid-cursor",
                "Invalid page cursor",
                400,
                "the page cursor is malformed, altered, or not one this endpoint gave out",
            ),
            Error::StatementTimeout(_) => class(
                "urn:tenant:problem:statement-timeout",
                "Statement timeout",
                503,
                "a statement ran past the plan's time limit",
            ),
            Error::Database(sqlx::Error::PoolTimedOut) => class(
                "urn:tenant:problem:database-busy",
                "Database busy",
                503,
                "no database connection was free in time; retry later",
            ),
            Error::Database(sqlx::Error::RowNotFound) => class(
                "urn:tenant:problem:not-found",
                "Not found",
                404,
                "no such row",
            ),
            Error::RowSecurityViolation(_) => class(
                "urn:tenant:problem:row-security-violation",
                "Row-level security violation",
                500,
                "the database refused a row under its tenant policy",
            ),
            Error::TenantMismatch { .. } => class(
                "urn:tenant:problem:tenant-mismatch",
                "Tenant mismatch",
                500,
                "the request's transaction was given another tenant's context",
            ),
            _ => INTERNAL,
        }
    }
}

/// The status, `application/problem+json` body and `Retry-After` header of
/// [`Error::problem`]. A server error (5xx) is logged at `ERROR` with the error itself, which
/// the body never shows.
///
/// ```
/// use axum::response::IntoResponse;
/// use tenant::sqlx::Error;
///
/// let response = Error::Fenced { tenant: "acme".parse()? }.into_response();
/// assert_eq!(response.status(), 503);
/// assert_eq!(response.headers()["retry-after"], "2");
/// assert_eq!(response.headers()["content-type"], "application/problem+json");
/// # Ok::<(), tenant::TenantIdError>(())
/// ```
impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let problem = self.problem();
        if problem.status >= 500 && !self.is_retryable() {
            tracing::error!(error = %self, class = problem.type_uri, "request failed");
        }
        super::problem_response(&problem, self.retry_after_secs())
    }
}
