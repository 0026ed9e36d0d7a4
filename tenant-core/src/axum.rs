//! The `TenantCtx` extractor for axum. It lives here because the orphan rule puts an impl of
//! axum's trait for [`TenantCtx`] in the crate of one or the other; the resolver behind it is
//! `tenant-http`'s `TenantResolver`, shared as a [`SharedResolver`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum_core::extract::{FromRef, FromRequestParts};
use axum_core::response::Response;
use http::request::Parts;

use crate::{Resolved, TenantCtx};

/// A boxed, sendable future.
type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Which callers a route takes: see [`SharedResolver::resolve`] and
/// [`SharedResolver::resolve_any_caller`]. Not a public API.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Callers {
    /// A resolver with a user hook refuses a request whose hook found no user (`401`).
    Authenticated,
    /// The route also takes requests without an authenticated user.
    Any,
}

/// What resolves a request's tenant, answering a refusal with its response. Implemented by
/// `tenant-http`'s `TenantResolver`; not a public API.
///
/// Its answer is a [`Resolved`], which only [`TenantClaim::verify_request`] makes and which
/// cannot be cloned: an implementation must verify every request with the registry (an
/// inventoried verification), and cannot answer with a context it held from before.
///
/// [`TenantClaim::verify_request`]: crate::TenantClaim::verify_request
#[doc(hidden)]
pub trait ResolveParts: Send + Sync + 'static {
    /// The request's verified tenant context, or the response that refuses it.
    fn resolve_parts<'a>(
        &'a self,
        parts: &'a Parts,
        callers: Callers,
    ) -> BoxFuture<'a, Result<Resolved, Response>>;
}

/// The application's tenant resolver, shared. Put it in the router's state (directly, or as a
/// field with `FromRef`) and `TenantCtx` becomes an extractor. Built by
/// `TenantResolver::shared` (crate `tenant-http`), which has an example.
#[derive(Clone)]
pub struct SharedResolver(Arc<dyn ResolveParts>);

impl SharedResolver {
    /// Shares `resolver`. Use `TenantResolver::shared`: every answer of a [`ResolveParts`] is a
    /// [`Resolved`], so no resolver shared this way skips the registry's verification.
    #[doc(hidden)]
    pub fn from_resolver(resolver: Arc<dyn ResolveParts>) -> Self {
        SharedResolver(resolver)
    }

    /// Resolves the tenant of a request, or answers with the problem that refuses it. With a
    /// resolver that has a user hook, a request for which the hook finds no user is refused
    /// (`401`); with an anonymous resolver, no request has a user.
    pub async fn resolve(&self, parts: &Parts) -> Result<TenantCtx, Response> {
        self.resolve_for(parts, Callers::Authenticated).await
    }

    /// Resolves the tenant of a request for a route that also serves callers without an
    /// authenticated user: the context carries the user when the hook found one, and none
    /// otherwise. What `tenant-http`'s `AnyCaller` extractor uses.
    pub async fn resolve_any_caller(&self, parts: &Parts) -> Result<TenantCtx, Response> {
        self.resolve_for(parts, Callers::Any).await
    }

    async fn resolve_for(&self, parts: &Parts, callers: Callers) -> Result<TenantCtx, Response> {
        let resolved = self.0.resolve_parts(parts, callers).await?;
        Ok(resolved.into_ctx())
    }
}

impl std::fmt::Debug for SharedResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedResolver")
    }
}

/// A handler that takes a `TenantCtx` gets the request's resolved tenant, or the request is
/// answered with the resolver's problem and never reaches it. With a resolver that has a user
/// hook, a request without an authenticated user is refused (`401`): a route that serves such
/// callers says so by taking `tenant-http`'s `AnyCaller` instead. When `TenantLayer` already
/// resolved the request, its context is reused.
impl<S> FromRequestParts<S> for TenantCtx
where
    S: Send + Sync,
    SharedResolver: FromRef<S>,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(ctx) = parts.extensions.get::<TenantCtx>() {
            return Ok(ctx.clone());
        }
        SharedResolver::from_ref(state).resolve(parts).await
    }
}
