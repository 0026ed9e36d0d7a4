//! axum integration (feature `axum`): [`TenantCtx`], [`Member`] and [`AnyCaller`] as extractors,
//! and [`TenantLayer`] for services that prefer middleware. All go through the one
//! [`TenantResolver`].

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use axum_core::extract::{FromRef, FromRequestParts};
use axum_core::response::{IntoResponse, Response};
use http::request::Parts;
use tracing::Instrument;

pub use tenant_core::axum::SharedResolver;
use tenant_core::axum::{Callers, ResolveParts};
use tenant_core::{Resolved, TenantCtx, TenantRegistry};

use crate::{
    Member, PROBLEM_JSON, ResolveError, Source, TenantResolver, TenantResolverBuilder, UserHook,
};

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

impl<R, U> ResolveParts for TenantResolver<R, U>
where
    R: TenantRegistry + 'static,
    U: UserHook + 'static,
{
    fn resolve_parts<'a>(
        &'a self,
        parts: &'a Parts,
        callers: Callers,
    ) -> BoxFuture<'a, Result<Resolved, Response>> {
        Box::pin(async move {
            self.verified(parts, callers == Callers::Any)
                .await
                .map_err(|error| {
                    let challenge = match error {
                        ResolveError::Unauthenticated => self.challenge(),
                        _ => None,
                    };
                    let mut response = error.into_response();
                    if let Some(challenge) = challenge {
                        response
                            .headers_mut()
                            .insert(http::header::WWW_AUTHENTICATE, challenge);
                    }
                    response
                })
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
    /// resolver's problem and never reaches it. With a user hook, a request without an
    /// authenticated user is answered `401`, except on routes that take [`AnyCaller`]; a
    /// handler that needs the member takes [`Member`].
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

/// What `.shared()` on a [`TenantResolverBuilder`] needs and never has: the builder gets the
/// method only so that forgetting `.users(hook)` or `.anonymous()` is told as such, rather than
/// as "no method named `shared`". Not a public API; nothing implements it.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`.shared()` needs a finished resolver: choose how it authenticates first",
    label = "still a `TenantResolverBuilder`: no `.users(hook)` or `.anonymous()` yet",
    note = "finish the builder with `.users(hook)` (the application's authentication) or `.anonymous()` (deliberately none), then call `.shared()`"
)]
pub trait AuthenticationChosen {
    #[doc(hidden)]
    fn shared(self) -> SharedResolver;
}

impl<R: TenantRegistry> TenantResolverBuilder<R> {
    /// Not callable: see [`TenantResolver::shared`], after `.users(hook)` or `.anonymous()`.
    #[doc(hidden)]
    pub fn shared(self) -> SharedResolver
    where
        Self: AuthenticationChosen,
    {
        AuthenticationChosen::shared(self)
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

/// A handler that takes a `Member` runs only for an authenticated member of the request's
/// tenant: without one (no credentials, or an anonymous resolver) the request is answered
/// `401`, and with a non-member the hook's refusal.
///
/// ```
/// use axum::{routing::get, Router};
/// use tenant::http::{AuthenticatedUser, Member, ResolveError, TenantResolver, UserHook};
/// use tenant::{InMemoryRegistry, TenancyConfig, Tenant};
/// use tower::ServiceExt;
///
/// # struct Sessions;
/// # impl UserHook for Sessions {
/// #     async fn user(&self, parts: &http::request::Parts, _: &Tenant)
/// #         -> Result<Option<AuthenticatedUser>, ResolveError> {
/// #         Ok(parts.headers.get("x-user").map(|_| AuthenticatedUser { user_id: "alice".into(), roles: vec![] }))
/// #     }
/// # }
/// async fn my_invoices(member: Member) -> String {
///     format!("{} of {}", member.user_id(), member.tenant_id())
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let registry = InMemoryRegistry::from_ids(["acme".parse()?])?;
/// let resolver = TenantResolver::new(registry, TenancyConfig::default()).users(Sessions);
/// let app = Router::new().route("/t/acme/mine", get(my_invoices)).with_state(resolver.shared());
///
/// let request = http::Request::get("/t/acme/mine").header("x-user", "alice").body(axum::body::Body::empty())?;
/// assert_eq!(app.clone().oneshot(request).await?.status(), 200);
/// let request = http::Request::get("/t/acme/mine").body(axum::body::Body::empty())?;
/// assert_eq!(app.oneshot(request).await?.status(), 401);
/// # Ok(())
/// # }
/// ```
impl<S> FromRequestParts<S> for Member
where
    S: Send + Sync,
    SharedResolver: FromRef<S>,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let ctx = TenantCtx::from_request_parts(parts, state).await?;
        Member::try_from(ctx).map_err(IntoResponse::into_response)
    }
}

/// The request's tenant for a route that serves callers without an authenticated user too, on
/// purpose (a sign-in page, a public price list): the extractor that says so. Its context
/// carries the user when the hook found one, and none otherwise. Every other route takes
/// `TenantCtx` (or [`Member`]), which a resolver with a user hook refuses (`401`) without a
/// user. Under [`TenantLayer`], which resolves every request as `TenantCtx` does, it gets the
/// layer's context.
///
/// ```
/// use axum::{routing::get, Router};
/// use tenant::http::{AnyCaller, AuthenticatedUser, ResolveError, TenantResolver, UserHook};
/// use tenant::{InMemoryRegistry, TenancyConfig, Tenant};
/// use tower::ServiceExt;
///
/// /// A session store that knows no one: every request is without a user.
/// struct NoSessions;
///
/// impl UserHook for NoSessions {
///     async fn user(&self, _: &http::request::Parts, _: &Tenant)
///         -> Result<Option<AuthenticatedUser>, ResolveError> {
///         Ok(None)
///     }
/// }
///
/// async fn prices(AnyCaller(ctx): AnyCaller) -> String {
///     format!("prices of {}", ctx.tenant_id())
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let registry = InMemoryRegistry::from_ids(["acme".parse()?])?;
/// let resolver = TenantResolver::new(registry, TenancyConfig::default()).users(NoSessions);
/// let app = Router::new().route("/t/acme/prices", get(prices)).with_state(resolver.shared());
/// let request = http::Request::get("/t/acme/prices").body(axum::body::Body::empty())?;
/// assert_eq!(app.oneshot(request).await?.status(), 200);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct AnyCaller(pub TenantCtx);

impl<S> FromRequestParts<S> for AnyCaller
where
    S: Send + Sync,
    SharedResolver: FromRef<S>,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(ctx) = parts.extensions.get::<TenantCtx>() {
            return Ok(AnyCaller(ctx.clone()));
        }
        let shared = SharedResolver::from_ref(state);
        shared.resolve_any_caller(parts).await.map(AnyCaller)
    }
}

/// Answers with the status and `application/problem+json` body of [`ResolveError::problem`].
impl IntoResponse for ResolveError {
    fn into_response(self) -> Response {
        let body = static_problem(&RESOLVE_BODIES[self.body_index()], || self.problem());
        problem_response(self.status(), body, self.retry_after_secs())
    }
}

/// One serialized problem body per rejection class and source: every field of a
/// [`ResolveError`]'s problem is fixed by them (the detail names a source, never a tenant).
static RESOLVE_BODIES: [OnceLock<Box<[u8]>>; 23] = [const { OnceLock::new() }; 23];

impl ResolveError {
    /// The slot of this rejection's body in [`RESOLVE_BODIES`].
    fn body_index(&self) -> usize {
        let source = |source: &Source| match source {
            Source::Header => 0,
            Source::Subdomain => 1,
            Source::Path => 2,
        };
        match self {
            ResolveError::Missing => 0,
            ResolveError::Malformed(s) => 1 + source(s),
            ResolveError::Conflicting(a, b) => 4 + 3 * source(a) + source(b),
            ResolveError::Unavailable => 13,
            ResolveError::Unknown(s) => 14 + source(s),
            ResolveError::Inactive => 17,
            ResolveError::NotAllowed => 18,
            ResolveError::NotMember => 19,
            ResolveError::Unauthenticated => 20,
            ResolveError::Registry(_) => 21,
            ResolveError::Busy { .. } => 22,
        }
    }
}

/// The body in `slot`, serialized from `problem` the first time. A flood of refusals is
/// answered with the same bytes each time: no serialization and no allocation per refusal.
pub(crate) fn static_problem(
    slot: &'static OnceLock<Box<[u8]>>,
    problem: impl FnOnce() -> crate::Problem,
) -> &'static [u8] {
    slot.get_or_init(|| {
        serde_json::to_vec(&problem())
            .unwrap_or_default()
            .into_boxed_slice()
    })
}

/// A problem response: `status`, `application/problem+json`, `body`, and `Retry-After`.
pub(crate) fn problem_response(
    status: u16,
    body: &'static [u8],
    retry_after_secs: Option<u64>,
) -> Response {
    let status =
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = Response::new(axum_core::body::Body::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(PROBLEM_JSON),
    );
    if let Some(seconds) = retry_after_secs {
        headers.insert(http::header::RETRY_AFTER, http::HeaderValue::from(seconds));
    }
    response
}

/// Tower middleware: resolves every request as the `TenantCtx` extractor does (with a user hook,
/// a request without an authenticated user is answered `401`), answers a rejection with its
/// problem, and runs the inner service in a `tenant` span carrying `tenant_id`, with the context
/// in the request's extensions (where the extractors find it). Routes that serve callers without
/// a user go outside the layer and take [`AnyCaller`].
#[derive(Clone, Debug)]
pub struct TenantLayer {
    boundary: Arc<Boundary>,
}

/// What every request's service needs, behind one reference count: axum clones the service
/// for every request (and `TenantService` its inner one), so each `Arc` here costs two atomic
/// read-modify-writes per clone.
#[derive(Debug)]
struct Boundary {
    resolver: SharedResolver,
    #[cfg(feature = "fair")]
    fair: Option<crate::FairLayer>,
}

impl TenantLayer {
    /// A layer resolving with `resolver`.
    pub fn new(resolver: SharedResolver) -> Self {
        TenantLayer {
            boundary: Arc::new(Boundary {
                resolver,
                #[cfg(feature = "fair")]
                fair: None,
            }),
        }
    }

    /// Weighted fair admission of the resolved requests by `fair` (feature `fair`), in this
    /// layer's own service: the same admission as `FairLayer` given as the next layer
    /// (`.layer((TenantLayer::new(resolver), fair))`), without a second service cloned for
    /// every request nor a second future around the handler's. A refused request is answered
    /// here, after its tenant was resolved (its `429` problem, see `FairRejection`).
    ///
    /// ```
    /// use axum::{routing::get, Router};
    /// use tenant::http::{FairLayer, Limits, TenantLayer, TenantResolver};
    /// use tenant::{InMemoryRegistry, Plan, TenancyConfig};
    /// use tower::ServiceExt;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let resolver = TenantResolver::new(InMemoryRegistry::from_ids(["acme".parse()?])?,
    ///     TenancyConfig::default()).anonymous().shared();
    /// let fair = FairLayer::builder(64, Limits::new(100, 200, 32)?)
    ///     .plan(Plan::Free, Limits::new(1, 1, 8)?)
    ///     .build()?;
    /// let app = Router::new()
    ///     .route("/", get(|| async { "ok" }))
    ///     .layer(TenantLayer::new(resolver).fair(fair));
    /// let request = || http::Request::get("/").header("x-tenant-id", "acme")
    ///     .body(axum::body::Body::empty());
    /// assert_eq!(app.clone().oneshot(request()?).await?.status(), 200);
    /// assert_eq!(app.oneshot(request()?).await?.status(), 429); // free: one a second
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(feature = "fair")]
    pub fn fair(self, fair: crate::FairLayer) -> Self {
        TenantLayer {
            boundary: Arc::new(Boundary {
                resolver: self.boundary.resolver.clone(),
                fair: Some(fair),
            }),
        }
    }
}

impl<S> tower_layer::Layer<S> for TenantLayer {
    type Service = TenantService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TenantService {
            inner,
            boundary: Arc::clone(&self.boundary),
        }
    }
}

/// The service [`TenantLayer`] wraps around the application.
#[derive(Clone, Debug)]
pub struct TenantService<S> {
    inner: S,
    boundary: Arc<Boundary>,
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
        let boundary = Arc::clone(&self.boundary);
        Box::pin(async move {
            let (mut parts, body) = request.into_parts();
            match boundary.resolver.resolve(&parts).await {
                Ok(ctx) => {
                    // Held until the response is ready (dropped with this block's locals).
                    #[cfg(feature = "fair")]
                    let _slot = match &boundary.fair {
                        Some(fair) => match fair.admit(&ctx).await {
                            Ok(slot) => Some(slot),
                            Err(refused) => return Ok(refused),
                        },
                        None => None,
                    };
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every rejection's static body is the one its problem serializes to, and no two
    /// rejections with different problems share a slot (a slot filled by one would answer the
    /// other with the wrong body).
    #[test]
    fn static_bodies_are_the_problems_they_stand_for() {
        let sources = [Source::Header, Source::Subdomain, Source::Path];
        let mut errors = vec![
            ResolveError::Missing,
            ResolveError::Unavailable,
            ResolveError::Inactive,
            ResolveError::NotAllowed,
            ResolveError::NotMember,
            ResolveError::Unauthenticated,
            ResolveError::Registry("down".into()),
            ResolveError::Busy {
                retry_after: std::time::Duration::from_millis(5),
            },
        ];
        for a in sources {
            errors.push(ResolveError::Malformed(a));
            errors.push(ResolveError::Unknown(a));
            for b in sources {
                errors.push(ResolveError::Conflicting(a, b));
            }
        }
        let mut slots = std::collections::HashMap::new();
        for error in &errors {
            let expected = serde_json::to_vec(&error.problem()).unwrap();
            // Twice: the first fills the slot, the second reads it.
            for _ in 0..2 {
                let body = static_problem(&RESOLVE_BODIES[error.body_index()], || error.problem());
                assert_eq!(body, expected.as_slice(), "{error:?}");
            }
            if let Some(other) = slots.insert(error.body_index(), expected.clone()) {
                assert_eq!(other, expected, "{error:?} shares a slot");
            }
        }
        assert_eq!(slots.len(), RESOLVE_BODIES.len());
    }
}
