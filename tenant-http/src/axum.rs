//! axum integration (feature `axum`): [`TenantCtx`] as an extractor, and [`TenantLayer`] for
//! services that prefer middleware. Both go through the one [`TenantResolver`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum_core::response::{IntoResponse, Response};
use http::request::Parts;
use tracing::Instrument;

use tenant_core::axum::ResolveParts;
pub use tenant_core::axum::SharedResolver;
use tenant_core::{TenantCtx, TenantRegistry};

use crate::{PROBLEM_JSON, ResolveError, TenantResolver, UserHook};

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

impl<R, U> ResolveParts for TenantResolver<R, U>
where
    R: TenantRegistry + 'static,
    U: UserHook + 'static,
{
    fn resolve_parts<'a>(&'a self, parts: &'a Parts) -> BoxFuture<'a, Result<TenantCtx, Response>> {
        Box::pin(async move {
            self.resolve(parts)
                .await
                .map_err(IntoResponse::into_response)
        })
    }
}

impl<R, U> TenantResolver<R, U>
where
    R: TenantRegistry + 'static,
    U: UserHook + 'static,
{
    /// This resolver, shared, for axum. Put the [`SharedResolver`] in the router's state
    /// (directly, or as a field with `FromRef`) and `TenantCtx` becomes an extractor: a handler
    /// that takes one gets the request's resolved tenant, or the request is answered with the
    /// resolver's problem and never reaches it.
    ///
    /// ```
    /// use axum::{routing::get, Router};
    /// use tenant::http::TenantResolver;
    /// use tenant::{TenancyConfig, TenantCtx};
    /// # use tenant::{Tenant, TenantId, TenantRegistry};
    /// # struct NoTenants;
    /// # impl TenantRegistry for NoTenants {
    /// #     type Error = std::convert::Infallible;
    /// #     async fn find_by_id(&self, _: &TenantId) -> Result<Option<Tenant>, Self::Error> { Ok(None) }
    /// #     async fn find_by_slug(&self, _: &TenantId) -> Result<Option<Tenant>, Self::Error> { Ok(None) }
    /// # }
    ///
    /// async fn whoami(ctx: TenantCtx) -> String {
    ///     ctx.tenant_id().to_string()
    /// }
    ///
    /// let resolver = TenantResolver::new(NoTenants, TenancyConfig::default())
    ///     .anonymous() // or .users(hook): without either choice there is no `shared`
    ///     .shared();
    /// let app: Router = Router::new().route("/whoami", get(whoami)).with_state(resolver);
    /// ```
    pub fn shared(self) -> SharedResolver {
        SharedResolver::from_resolver(Arc::new(self))
    }
}

impl<R, U> From<TenantResolver<R, U>> for SharedResolver
where
    R: TenantRegistry + 'static,
    U: UserHook + 'static,
{
    fn from(resolver: TenantResolver<R, U>) -> Self {
        resolver.shared()
    }
}

/// Answers with the status and `application/problem+json` body of [`ResolveError::problem`].
impl IntoResponse for ResolveError {
    fn into_response(self) -> Response {
        let problem = self.problem();
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let status = http::StatusCode::from_u16(problem.status)
            .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
        (status, [(http::header::CONTENT_TYPE, PROBLEM_JSON)], body).into_response()
    }
}

/// Tower middleware: resolves every request, answers a rejection with its problem, and runs the
/// inner service in a `tenant` span carrying `tenant_id`, with the context in the request's
/// extensions (where the `TenantCtx` extractor finds it).
#[derive(Clone, Debug)]
pub struct TenantLayer {
    resolver: SharedResolver,
}

impl TenantLayer {
    /// A layer resolving with `resolver`.
    pub fn new(resolver: SharedResolver) -> Self {
        TenantLayer { resolver }
    }
}

impl<S> tower_layer::Layer<S> for TenantLayer {
    type Service = TenantService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TenantService {
            inner,
            resolver: self.resolver.clone(),
        }
    }
}

/// The service [`TenantLayer`] wraps around the application.
#[derive(Clone, Debug)]
pub struct TenantService<S> {
    inner: S,
    resolver: SharedResolver,
}

impl<S, B> tower_service::Service<http::Request<B>> for TenantService<S>
where
    S: tower_service::Service<http::Request<B>, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        // The clone that was polled ready is the one that serves this request.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let resolver = self.resolver.clone();
        Box::pin(async move {
            let (mut parts, body) = request.into_parts();
            match resolver.resolve(&parts).await {
                Ok(ctx) => {
                    let span = tracing::info_span!("tenant", tenant_id = %ctx.tenant_id());
                    parts.extensions.insert(ctx);
                    inner
                        .call(http::Request::from_parts(parts, body))
                        .instrument(span)
                        .await
                }
                Err(rejection) => Ok(rejection),
            }
        })
    }
}
