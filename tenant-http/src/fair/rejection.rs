//! [`FairRejection`]: a request refused at the boundary, answered as a `429` problem.

use std::sync::OnceLock;
use std::time::Duration;

use axum_core::response::{IntoResponse, Response};

use crate::Problem;

/// Why [`FairLayer`](crate::FairLayer) refused a request: `429 Too Many Requests` as an RFC 9457 problem with
/// `Retry-After`. Only the tenant's own traffic leads here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FairRejection {
    /// The tenant is over its rate (`rate` in metrics).
    #[error("the tenant's request rate is over its limit")]
    Rate {
        /// When the tenant's rate limit admits a request again.
        retry_after: Duration,
    },
    /// The service is at its concurrency limit and the tenant's queue is full (`queue` in
    /// metrics).
    #[error("the service is busy and the tenant's queue is full")]
    QueueFull,
    /// No `TenantCtx` in the request: the layer is not behind `TenantLayer` (`500`,
    /// `no-tenant-context`; a deployment mistake, never a client's).
    #[error("fair admission needs TenantLayer in front of it")]
    NoTenant,
}

impl FairRejection {
    /// The reason label of the rejection metric: `rate`, `queue` or `no_tenant`.
    pub fn reason(&self) -> &'static str {
        match self {
            FairRejection::Rate { .. } => "rate",
            FairRejection::QueueFull => "queue",
            FairRejection::NoTenant => "no_tenant",
        }
    }

    /// The problem document: `urn:tenant:problem:rate-limited` or `tenant-queue-full` (429),
    /// `no-tenant-context` (500).
    ///
    /// ```
    /// use tenant::http::FairRejection;
    ///
    /// let problem = FairRejection::QueueFull.problem();
    /// assert_eq!((problem.status, problem.type_uri), (429, "urn:tenant:problem:tenant-queue-full"));
    /// ```
    pub fn problem(&self) -> Problem {
        let (type_uri, title) = match self {
            FairRejection::Rate { .. } => ("urn:tenant:problem:rate-limited", "Rate limited"),
            FairRejection::QueueFull => (
                "urn:tenant:problem:tenant-queue-full",
                "Too many requests waiting",
            ),
            FairRejection::NoTenant => {
                ("urn:tenant:problem:no-tenant-context", "No tenant context")
            }
        };
        Problem {
            type_uri,
            title,
            status: self.problem_status(),
            detail: self.to_string(),
        }
    }

    /// `Retry-After` in whole seconds (at least 1) for a `429`.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            FairRejection::Rate { retry_after } => {
                Some(crate::RetryLater::new(*retry_after).retry_after_secs())
            }
            FairRejection::QueueFull => Some(1),
            FairRejection::NoTenant => None,
        }
    }
}

impl IntoResponse for FairRejection {
    fn into_response(self) -> Response {
        // Fixed per variant (the wait is in `Retry-After`, not the body): serialized once.
        static BODIES: [OnceLock<Box<[u8]>>; 3] = [const { OnceLock::new() }; 3];
        let index = match self {
            FairRejection::Rate { .. } => 0,
            FairRejection::QueueFull => 1,
            FairRejection::NoTenant => 2,
        };
        let problem = || self.problem();
        let body = crate::axum::static_problem(&BODIES[index], problem);
        crate::axum::problem_response(self.problem_status(), body, self.retry_after_secs())
    }
}

impl FairRejection {
    fn problem_status(&self) -> u16 {
        match self {
            FairRejection::Rate { .. } | FairRejection::QueueFull => 429,
            FairRejection::NoTenant => 500,
        }
    }
}
