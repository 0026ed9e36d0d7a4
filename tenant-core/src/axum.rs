//! The `TenantCtx` extractor for axum. It lives here because the orphan rule puts an impl of
//! axum's trait for [`TenantCtx`] in the crate of one or the other; the resolver behind it is
//! `tenant-http`'s `TenantResolver`, shared as a [`SharedResolver`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum_core::extract::{FromRef, FromRequestParts};
use axum_core::response::Response;
use http::request::Parts;

use crate::TenantCtx;

/// A boxed, sendable future.
type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What resolves a request's tenant, answering a refusal with its response. Implemented by
/// `tenant-http`'s `TenantResolver`; not a public API.
#[doc(hidden)]
pub trait ResolveParts: Send + Sync + 'static {
    /// The request's tenant context, or the response that refuses it.
    fn resolve_parts<'a>(&'a self, parts: &'a Parts) -> BoxFuture<'a, Result<TenantCtx, Response>>;
}

/// The application's tenant resolver, shared. Put it in the router's state (directly, or as a
/// field with `FromRef`) and `TenantCtx` becomes an extractor. Built by
/// `TenantResolver::shared` (crate `tenant-http`), which has an example.
#[derive(Clone)]
pub struct SharedResolver(Arc<dyn ResolveParts>);

impl SharedResolver {
    /// Shares `resolver`. Use `TenantResolver::shared`.
    #[doc(hidden)]
    pub fn from_resolver(resolver: Arc<dyn ResolveParts>) -> Self {
        SharedResolver(resolver)
    }

    /// Resolves the tenant of a request, or answers with the problem that refuses it.
    pub async fn resolve(&self, parts: &Parts) -> Result<TenantCtx, Response> {
        self.0.resolve_parts(parts).await
    }
}

impl std::fmt::Debug for SharedResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedResolver")
    }
}

/// A handler that takes a `TenantCtx` gets the request's resolved tenant, or the request is
/// answered with the resolver's problem and never reaches it. When `TenantLayer` already
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
