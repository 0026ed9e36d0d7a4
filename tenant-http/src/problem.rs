//! Why a request has no tenant context, as a typed error and as an RFC 9457 problem.

use std::fmt;

/// Where in a request a tenant was named.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// The `X-Tenant-ID` header (a tenant id).
    Header,
    /// The first label of the host under the configured base domain (a slug).
    Subdomain,
    /// The segment after `/t/` at the start of the path (a slug).
    Path,
}

impl Source {
    /// The name used in problem bodies and audit events.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Header => "header",
            Source::Subdomain => "subdomain",
            Source::Path => "path",
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a request could not be given a tenant context. Every variant is a rejection: there is no
/// fallback tenant and no privileged context behind any of them.
///
/// # What a caller learns
///
/// Whether a named tenant is registered, active and allowed here is the registry's business,
/// told only to the tenant's members. [`TenantResolver::resolve`](crate::TenantResolver::resolve)
/// returns:
///
/// - [`Missing`](Self::Missing), [`Malformed`](Self::Malformed) and
///   [`Conflicting`](Self::Conflicting) (400) to anyone: they are about the request's own
///   text, and a conflict is only reported between tenants the caller could resolve one at a
///   time.
/// - [`Unavailable`](Self::Unavailable) (404, one problem body) for a tenant that is unknown,
///   inactive or not allowed, whichever source named it, to every caller the
///   [`UserHook`](crate::UserHook) does not vouch for as a member of that tenant: every caller
///   of an [`anonymous`](crate::TenantResolverBuilder::anonymous) resolver, every caller for
///   whom the hook finds no authenticated user (`Ok(None)`) or returns an error, and every
///   caller naming an unknown tenant (nobody is a member of one).
/// - [`Inactive`](Self::Inactive) or [`NotAllowed`](Self::NotAllowed) (403) only to a member:
///   a caller for whom the hook returns a user.
/// - Whatever the hook returns for an available tenant, such as [`NotMember`](Self::NotMember)
///   (403), and [`Unauthenticated`](Self::Unauthenticated) (401) when it finds no user and the
///   route did not take callers without one.
/// - [`Registry`](Self::Registry) (503) when the registry fails.
///
/// It never returns [`Unknown`](Self::Unknown). The precise class (`unknown-tenant`,
/// `inactive-tenant`, `tenant-not-allowed`) is always in the rejection's audit event on
/// `tenant::audit`, beside the class the caller was answered with.
///
/// ```
/// use tenant::http::{ResolveError, Source};
///
/// // Unknown, inactive and not allowed, as an unauthenticated caller sees each of them.
/// let unavailable = ResolveError::Unavailable.problem();
/// assert_eq!(unavailable.status, 404);
/// assert_eq!(unavailable.type_uri, "urn:tenant:problem:tenant-unavailable");
/// // What a member of an inactive tenant is told instead.
/// assert_eq!(ResolveError::Inactive.problem().status, 403);
/// assert_eq!(ResolveError::Unknown(Source::Path).class(), "unknown-tenant");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResolveError {
    /// No source named a tenant.
    #[error("the request names no tenant")]
    Missing,
    /// A source named a tenant in a form that is not a tenant id, sent it twice, or can be read
    /// differently by a proxy (see [`TenantResolver`](crate::TenantResolver)).
    #[error("the tenant named by the {0} is malformed")]
    Malformed(Source),
    /// Two sources named different tenants.
    #[error("the {0} and the {1} name different tenants")]
    Conflicting(Source, Source),
    /// No tenant available to this caller by that name: unknown, inactive or not allowed, and
    /// the caller is not an authenticated member who may learn which. One status and one
    /// problem body for all three.
    #[error("no tenant by that name is available to this request")]
    Unavailable,
    /// No such tenant is registered. The class of the audit event; callers are answered
    /// [`Unavailable`](Self::Unavailable).
    #[error("the tenant named by the {0} does not exist")]
    Unknown(Source),
    /// The tenant exists but is deactivated (told to its members only).
    #[error("the tenant is not active")]
    Inactive,
    /// The tenant is not on this deployment's allow-list, or is not the tenant of a
    /// single-tenant deployment (told to its members only).
    #[error("the tenant is not allowed here")]
    NotAllowed,
    /// The authenticated user is not a member of the tenant.
    #[error("the user is not a member of the tenant")]
    NotMember,
    /// The resolver has a user hook, and it found no authenticated user in the request: no
    /// context, unless the route takes callers without one (`resolve_any_caller`, axum's
    /// `AnyCaller`). Only for a tenant that is available: an unavailable one is
    /// [`Unavailable`](Self::Unavailable) to such a caller.
    #[error("the request has no authenticated user")]
    Unauthenticated,
    /// The registry could not be read: its own error, boxed.
    #[error("the tenant registry is unavailable")]
    Registry(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The registry's budget for lookups of ids it has not found lately is spent (a
    /// [`FloodGuard`](tenant_core::registry::FloodGuard) refused the lookup): `503` with
    /// `Retry-After`, before any lookup. Tenants found lately are looked up as usual.
    #[error("too many requests name tenants that are not known here; retry later")]
    Busy {
        /// When the budget has room again (the `Retry-After` header, in whole seconds, at
        /// least 1).
        retry_after: std::time::Duration,
    },
}

impl ResolveError {
    /// The registry's error, as a rejection: [`Busy`](Self::Busy) if it is (or was caused by)
    /// a spent [`FloodGuard`](tenant_core::registry::FloodGuard) budget, else
    /// [`Registry`](Self::Registry).
    pub(crate) fn from_registry(error: Box<dyn std::error::Error + Send + Sync>) -> Self {
        match tenant_core::registry::over_budget(error.as_ref()) {
            Some(over) => ResolveError::Busy {
                retry_after: over.retry_after,
            },
            None => ResolveError::Registry(error),
        }
    }

    /// The `Retry-After` header's value in seconds, for the rejections that have one.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tenant::http::ResolveError;
    ///
    /// let busy = ResolveError::Busy { retry_after: Duration::from_millis(20) };
    /// assert_eq!(busy.retry_after_secs(), Some(1));
    /// assert_eq!(ResolveError::Missing.retry_after_secs(), None);
    /// ```
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            ResolveError::Busy { retry_after } => {
                Some(crate::RetryLater::new(*retry_after).retry_after_secs())
            }
            _ => None,
        }
    }
}

/// An RFC 9457 problem document, served as `application/problem+json`. It names the error class,
/// never a tenant: a caller learns nothing about tenants it does not belong to.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// A URI naming the error class: `urn:tenant:problem:<class>`.
    #[serde(rename = "type")]
    pub type_uri: &'static str,
    /// Short, fixed summary of the class.
    pub title: &'static str,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong in this request, without tenant data.
    pub detail: String,
}

/// The media type of [`Problem`] bodies.
pub const PROBLEM_JSON: &str = "application/problem+json";

impl ResolveError {
    /// The HTTP status: 400 for a request that names no tenant or names one badly, 401 for a
    /// request without the authenticated user the route needs, 404 for an unavailable or
    /// unknown tenant, 403 for an inactive, disallowed or non-member tenant, 503 when the
    /// registry is down or its budget for unknown ids is spent.
    pub fn status(&self) -> u16 {
        match self {
            ResolveError::Missing | ResolveError::Malformed(_) | ResolveError::Conflicting(..) => {
                400
            }
            ResolveError::Unauthenticated => 401,
            ResolveError::Unavailable | ResolveError::Unknown(_) => 404,
            ResolveError::Inactive | ResolveError::NotAllowed | ResolveError::NotMember => 403,
            ResolveError::Registry(_) | ResolveError::Busy { .. } => 503,
        }
    }

    /// The error class, stable for clients: `missing-tenant`, `malformed-tenant`,
    /// `conflicting-tenant`, `tenant-unavailable`, `unknown-tenant`, `inactive-tenant`,
    /// `tenant-not-allowed`, `not-a-member`, `unauthenticated`, `registry-unavailable`,
    /// `lookup-budget-spent`.
    pub fn class(&self) -> &'static str {
        match self {
            ResolveError::Missing => "missing-tenant",
            ResolveError::Malformed(_) => "malformed-tenant",
            ResolveError::Conflicting(..) => "conflicting-tenant",
            ResolveError::Unavailable => "tenant-unavailable",
            ResolveError::Unknown(_) => "unknown-tenant",
            ResolveError::Inactive => "inactive-tenant",
            ResolveError::NotAllowed => "tenant-not-allowed",
            ResolveError::NotMember => "not-a-member",
            ResolveError::Unauthenticated => "unauthenticated",
            ResolveError::Registry(_) => "registry-unavailable",
            ResolveError::Busy { .. } => "lookup-budget-spent",
        }
    }

    /// The problem document for this error.
    ///
    /// ```
    /// use tenant::http::{ResolveError, Source};
    ///
    /// let problem = ResolveError::Malformed(Source::Header).problem();
    /// assert_eq!(problem.status, 400);
    /// assert_eq!(problem.type_uri, "urn:tenant:problem:malformed-tenant");
    /// assert_eq!(problem.detail, "the tenant named by the header is malformed");
    /// ```
    pub fn problem(&self) -> Problem {
        let (type_uri, title) = match self {
            ResolveError::Missing => ("urn:tenant:problem:missing-tenant", "Missing tenant"),
            ResolveError::Malformed(_) => {
                ("urn:tenant:problem:malformed-tenant", "Malformed tenant")
            }
            ResolveError::Conflicting(..) => (
                "urn:tenant:problem:conflicting-tenant",
                "Conflicting tenant",
            ),
            ResolveError::Unavailable => (
                "urn:tenant:problem:tenant-unavailable",
                "Tenant unavailable",
            ),
            ResolveError::Unknown(_) => ("urn:tenant:problem:unknown-tenant", "Unknown tenant"),
            ResolveError::Inactive => ("urn:tenant:problem:inactive-tenant", "Inactive tenant"),
            ResolveError::NotAllowed => (
                "urn:tenant:problem:tenant-not-allowed",
                "Tenant not allowed",
            ),
            ResolveError::NotMember => ("urn:tenant:problem:not-a-member", "Not a member"),
            ResolveError::Unauthenticated => {
                ("urn:tenant:problem:unauthenticated", "Unauthenticated")
            }
            ResolveError::Registry(_) => (
                "urn:tenant:problem:registry-unavailable",
                "Tenant registry unavailable",
            ),
            ResolveError::Busy { .. } => (
                "urn:tenant:problem:lookup-budget-spent",
                "Too many unknown tenants",
            ),
        };
        Problem {
            type_uri,
            title,
            status: self.status(),
            detail: self.to_string(),
        }
    }
}
