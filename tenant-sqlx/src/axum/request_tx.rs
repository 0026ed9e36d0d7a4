//! [`RequestTx`]: the request's tenant-bound transaction, begun by the extractor and finished
//! by [`RequestTxLayer`] from the response's status.

use std::fmt;
use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use axum_core::extract::{FromRef, FromRequestParts};
use axum_core::response::{IntoResponse, Response};
use http::request::Parts;
use tenant_core::axum::SharedResolver;
use tenant_core::{TenantCtx, TenantId};
use tenant_http::Problem;

use crate::placement::{PlacementBackend, TenantPool};
use crate::tenant_tx::TenantTx;

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Tower middleware that gives each request a slot for one tenant-bound transaction, begun
/// from its [`TenantPool`] when a handler (or a middleware inside the layer) takes a
/// [`RequestTx`], and finished when the response comes back:
///
/// - committed when its status is `2xx` or `3xx` (a redirect after a write is a success); a
///   commit that fails replaces the response with the error's problem
///   ([`Error::problem`](crate::Error::problem)), so a client is never told "created" for a
///   row that was not;
/// - rolled back on `4xx` and `5xx`, and when the handler panics or its future is dropped
///   (the transaction is dropped with the request, and sqlx rolls it back);
/// - if a [`RequestTx`] outlives the response (moved into a spawned task, kept in a static),
///   the response becomes `500` with the class `transaction-escaped`, and the transaction is
///   rolled back when that `RequestTx` is dropped: nothing it does after the response commits.
///
/// A request that takes no `RequestTx` begins nothing. Put a panic-catching layer, if any,
/// outside this one.
///
/// See the [module](crate::axum) for an example.
pub struct RequestTxLayer<DB: PlacementBackend> {
    pool: TenantPool<DB>,
}

impl<DB: PlacementBackend> RequestTxLayer<DB> {
    /// A layer beginning each request's transaction from `pool`.
    pub fn new(pool: TenantPool<DB>) -> Self {
        RequestTxLayer { pool }
    }
}

impl<DB: PlacementBackend> Clone for RequestTxLayer<DB> {
    fn clone(&self) -> Self {
        RequestTxLayer {
            pool: self.pool.clone(),
        }
    }
}

impl<DB: PlacementBackend> fmt::Debug for RequestTxLayer<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestTxLayer")
            .field("pool", &self.pool)
            .finish()
    }
}

impl<S, DB: PlacementBackend> tower_layer::Layer<S> for RequestTxLayer<DB> {
    type Service = RequestTxService<S, DB>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestTxService {
            inner,
            pool: self.pool.clone(),
        }
    }
}

/// The service [`RequestTxLayer`] wraps around the application.
pub struct RequestTxService<S, DB: PlacementBackend> {
    inner: S,
    pool: TenantPool<DB>,
}

impl<S: Clone, DB: PlacementBackend> Clone for RequestTxService<S, DB> {
    fn clone(&self) -> Self {
        RequestTxService {
            inner: self.inner.clone(),
            pool: self.pool.clone(),
        }
    }
}

impl<S, DB: PlacementBackend> fmt::Debug for RequestTxService<S, DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestTxService")
            .field("pool", &self.pool)
            .finish_non_exhaustive()
    }
}

/// Where a request's transaction is between the extractor and the layer.
enum State<DB: PlacementBackend> {
    /// No `RequestTx` was taken (yet).
    Unused,
    /// A `RequestTx` holds it, or is beginning it.
    Held,
    /// The `RequestTx` was dropped: the layer commits or rolls it back.
    Returned(TenantTx<DB>),
}

/// One request's slot, in its extensions.
struct Slot<DB: PlacementBackend> {
    pool: TenantPool<DB>,
    state: Mutex<State<DB>>,
    /// The tenant of the first `RequestTx`: the one the layer will commit for.
    tenant: Mutex<Option<TenantId>>,
}

impl<DB: PlacementBackend> Slot<DB> {
    fn state(&self) -> MutexGuard<'_, State<DB>> {
        // Each step under the lock is one assignment: a panic elsewhere leaves it consistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The handle in the request's extensions (which need `Clone`).
struct SlotHandle<DB: PlacementBackend>(Arc<Slot<DB>>);

impl<DB: PlacementBackend> Clone for SlotHandle<DB> {
    fn clone(&self) -> Self {
        SlotHandle(Arc::clone(&self.0))
    }
}

impl<S, DB, B> tower_service::Service<http::Request<B>> for RequestTxService<S, DB>
where
    S: tower_service::Service<http::Request<B>, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
    DB: PlacementBackend,
{
    type Response = Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        // The clone that was polled ready is the one that serves this request.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let slot = Arc::new(Slot {
            pool: self.pool.clone(),
            state: Mutex::new(State::Unused),
            tenant: Mutex::new(None),
        });
        request
            .extensions_mut()
            .insert(SlotHandle(Arc::clone(&slot)));
        Box::pin(async move {
            let response = inner.call(request).await?;
            let state = std::mem::replace(&mut *slot.state(), State::Unused);
            Ok(match state {
                State::Unused => response,
                State::Held => {
                    tracing::error!(
                        "a RequestTx outlived its response: its transaction is not committed"
                    );
                    RequestTxRejection::Escaped.into_response()
                }
                State::Returned(tx) => finish(&slot, tx, response).await,
            })
        })
    }
}

/// Commits `tx` if `response` is a success, else rolls it back.
async fn finish<DB: PlacementBackend>(
    slot: &Slot<DB>,
    tx: TenantTx<DB>,
    response: Response,
) -> Response {
    let status = response.status();
    let bound = slot
        .tenant
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    // The handler has `&mut TenantTx`: it could have swapped in a transaction of its own.
    if bound.as_ref() != Some(tx.ctx().tenant_id()) {
        tracing::error!("the request's transaction was replaced: rolled back");
        drop(tx.rollback().await);
        return RequestTxRejection::Escaped.into_response();
    }
    if status.is_success() || status.is_redirection() {
        match tx.commit().await {
            Ok(()) => response,
            Err(error) => error.into_response(),
        }
    } else {
        if let Err(error) = tx.rollback().await {
            // The connection is closed or broken; the database rolls back on its own.
            tracing::warn!(%error, "rolling back the request's transaction failed");
        }
        response
    }
}

/// The request's transaction, bound to the tenant the resolver verified for the request (never
/// to one the request's body or path names): an extractor, under [`RequestTxLayer`].
///
/// It dereferences to [`TenantTx`]: `tx.repo::<E>()`, `tx.executor()`, `tx.ctx()`. The layer
/// commits it when the handler answers `2xx` or `3xx`, and rolls it back otherwise; a handler
/// does not commit. The extractor resolves the tenant as `TenantCtx` does (from
/// [`TenantLayer`](tenant_http::TenantLayer)'s context in the extensions, or with the
/// [`SharedResolver`] of the state), then begins on the [`TenantPool`]: behind the placement
/// fence on the tenant's own database, with row-level security's tenant setting when the pool
/// was made [`with_row_security`](TenantPool::with_row_security). Rejections are problems: the
/// resolver's, [`Error::problem`](crate::Error::problem)'s for a failed BEGIN
/// ([`Moved`](crate::Error::Moved) is `503` + `Retry-After`), and [`RequestTxRejection`]'s.
///
/// See the [module](crate::axum) for an example.
pub struct RequestTx<DB: PlacementBackend> {
    tx: Option<TenantTx<DB>>,
    slot: Arc<Slot<DB>>,
}

impl<DB: PlacementBackend> Deref for RequestTx<DB> {
    type Target = TenantTx<DB>;

    fn deref(&self) -> &TenantTx<DB> {
        self.tx
            .as_ref()
            .unwrap_or_else(|| unreachable!("a RequestTx holds its transaction until dropped"))
    }
}

impl<DB: PlacementBackend> DerefMut for RequestTx<DB> {
    fn deref_mut(&mut self) -> &mut TenantTx<DB> {
        self.tx
            .as_mut()
            .unwrap_or_else(|| unreachable!("a RequestTx holds its transaction until dropped"))
    }
}

impl<DB: PlacementBackend> Drop for RequestTx<DB> {
    fn drop(&mut self) {
        if let Some(tx) = self.tx.take() {
            *self.slot.state() = State::Returned(tx);
        }
    }
}

impl<DB: PlacementBackend> fmt::Debug for RequestTx<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RequestTx").field(&self.tx).finish()
    }
}

/// Resets a slot marked `Held` to `Unused` if the BEGIN does not finish (an error, or the
/// extractor's future dropped).
struct Reservation<'a, DB: PlacementBackend> {
    slot: &'a Slot<DB>,
    armed: bool,
}

impl<DB: PlacementBackend> Drop for Reservation<'_, DB> {
    fn drop(&mut self) {
        if self.armed {
            *self.slot.state() = State::Unused;
        }
    }
}

impl<S, DB> FromRequestParts<S> for RequestTx<DB>
where
    S: Send + Sync,
    SharedResolver: FromRef<S>,
    DB: PlacementBackend,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Some(SlotHandle(slot)) = parts.extensions.get::<SlotHandle<DB>>().cloned() else {
            tracing::error!("RequestTx taken on a route without RequestTxLayer of its database");
            return Err(RequestTxRejection::NoLayer.into_response());
        };
        let ctx = TenantCtx::from_request_parts(parts, state).await?;
        let previous = std::mem::replace(&mut *slot.state(), State::Held);
        let tx = match previous {
            // A middleware inside the layer took it first and let go: the same transaction.
            State::Returned(tx) => tx,
            State::Held => return Err(RequestTxRejection::Taken.into_response()),
            State::Unused => {
                let mut reservation = Reservation {
                    slot: &slot,
                    armed: true,
                };
                let tx = slot
                    .pool
                    .begin(&ctx)
                    .await
                    .map_err(IntoResponse::into_response)?;
                reservation.armed = false;
                *slot.tenant.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some(ctx.tenant_id().clone());
                tx
            }
        };
        Ok(RequestTx { tx: Some(tx), slot })
    }
}

/// Why a [`RequestTx`] could not be given, or its transaction not finished: a mistake in the
/// service's wiring, answered `500` with a problem that says which.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestTxRejection {
    /// The route is not under a [`RequestTxLayer`] of the `RequestTx`'s database: nothing
    /// would commit the transaction, so none is begun.
    #[error("RequestTx needs RequestTxLayer around the route (for the same database)")]
    NoLayer,
    /// A second `RequestTx` in one request while the first is alive (two extractors of one
    /// handler).
    #[error("the request's transaction is already taken by another RequestTx")]
    Taken,
    /// The `RequestTx` outlived the response, or its transaction was replaced: not committed.
    #[error("the request's transaction outlived its response, or was replaced; rolled back")]
    Escaped,
}

impl RequestTxRejection {
    /// The problem: status 500, class `transaction-layer-missing`, `transaction-taken` or
    /// `transaction-escaped`.
    ///
    /// ```
    /// use tenant::sqlx::axum::RequestTxRejection;
    ///
    /// let problem = RequestTxRejection::NoLayer.problem();
    /// assert_eq!((problem.status, problem.type_uri), (500, "urn:tenant:problem:transaction-layer-missing"));
    /// ```
    pub fn problem(&self) -> Problem {
        let (type_uri, title) = match self {
            RequestTxRejection::NoLayer => (
                "urn:tenant:problem:transaction-layer-missing",
                "Transaction layer missing",
            ),
            RequestTxRejection::Taken => (
                "urn:tenant:problem:transaction-taken",
                "Transaction already taken",
            ),
            RequestTxRejection::Escaped => (
                "urn:tenant:problem:transaction-escaped",
                "Transaction not committed",
            ),
        };
        Problem {
            type_uri,
            title,
            status: 500,
            detail: self.to_string(),
        }
    }
}

impl IntoResponse for RequestTxRejection {
    fn into_response(self) -> Response {
        super::problem_response(&self.problem(), None)
    }
}
