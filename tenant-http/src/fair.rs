//! Weighted fair admission (feature `fair`): [`FairLayer`], behind [`TenantLayer`].
//!
//! [`TenantLayer`]: crate::TenantLayer

mod admission;
mod rejection;
mod sfq;

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum_core::response::{IntoResponse, Response};
use tenant_core::labels::TenantLabels;
use tenant_core::{Plan, PlanWeights, TenantCtx, TenantId};

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

use admission::{Admission, Shared, Slot};
pub use rejection::FairRejection;
pub use tenant_core::limits::{FairConfigError, Limits};

/// The weight whose share of the slots would be all of them, by default (one constant with
/// `tenant::sqlx::DbBudget`'s).
pub use tenant_core::DEFAULT_FULL_WEIGHT;

/// Builds a [`FairLayer`]: see there.
#[derive(Debug)]
pub struct FairLayerBuilder {
    concurrency: usize,
    weights: PlanWeights,
    full_weight: f64,
    default_limits: Limits,
    plans: HashMap<Plan, Limits>,
    tenants: HashMap<TenantId, Limits>,
    labels: Option<Arc<TenantLabels>>,
}

impl FairLayerBuilder {
    /// The plans' weights in the queues (default: free 1, pro 3, enterprise 10).
    pub fn weights(mut self, weights: PlanWeights) -> Self {
        self.weights = weights;
        self
    }

    /// The weight whose share would be all the slots (default [`DEFAULT_FULL_WEIGHT`], the
    /// sum of the default plan weights): a tenant of weight `w` holds at most
    /// `⌈concurrency × w / full_weight⌉` slots at once (at least 1), and its further requests
    /// wait in its queue while the other slots stay the others'. With the default weights and
    /// 64 slots: free 5, pro 14, enterprise 46. A `full_weight` at or below the smallest
    /// weight lets every tenant take every slot. Not positive and finite:
    /// [`FairConfigError::FullWeight`] from [`build`](Self::build).
    ///
    /// ```
    /// use tenant::http::{FairLayer, Limits};
    ///
    /// let limits = Limits::new(100, 100, 8)?;
    /// assert!(FairLayer::builder(64, limits).full_weight(28.0).build().is_ok());
    /// assert!(FairLayer::builder(64, limits).full_weight(0.0).build().is_err());
    /// # Ok::<(), tenant::http::FairConfigError>(())
    /// ```
    pub fn full_weight(mut self, full_weight: f64) -> Self {
        self.full_weight = full_weight;
        self
    }

    /// The limits of every tenant on `plan`, unless [`tenant`](Self::tenant) overrides them.
    pub fn plan(mut self, plan: Plan, limits: Limits) -> Self {
        self.plans.insert(plan, limits);
        self
    }

    /// The limits of one tenant, whatever its plan, from configuration. A tenant whose registry
    /// record carries limits of its own ([`Tenant::limits`](tenant_core::Tenant::limits), set
    /// with `tenant::sqlx::SqlRegistry::set_limits`) gets those instead: the verified context
    /// brings them ([`TenantCtx::limits`]), and a change applies from the first request whose
    /// context has it (when the registry's cache has the new record).
    pub fn tenant(mut self, tenant: TenantId, limits: Limits) -> Self {
        self.tenants.insert(tenant, limits);
        self
    }

    /// How the metrics' `tenant` label is chosen (default: `TenantLabels::new(20)`, the 20
    /// busiest tenants by name, the rest `other`). Share one `Arc<TenantLabels>` with
    /// `tenant::sqlx::DbBudget::metrics_labels` so the database metrics name the same tenants.
    ///
    /// The layer records through the `metrics` facade; any recorder exports them. To
    /// Prometheus, with `metrics-exporter-prometheus` (a service installs it once, with
    /// `PrometheusBuilder::new().install_recorder()`, and serves `handle.render()` on
    /// `/metrics`; a local recorder here, so the example checks what it renders):
    ///
    /// ```
    /// use axum::{routing::get, Router};
    /// use metrics_exporter_prometheus::PrometheusBuilder;
    /// use tenant::http::{FairLayer, Limits, TenantLayer, TenantResolver};
    /// use tenant::labels::TenantLabels;
    /// use tenant::{InMemoryRegistry, TenancyConfig};
    /// use tower::ServiceExt;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let recorder = PrometheusBuilder::new().build_recorder();
    /// let handle = recorder.handle();
    /// metrics::with_local_recorder(&recorder, || -> Result<(), Box<dyn std::error::Error>> {
    ///     let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    ///     runtime.block_on(async {
    ///         let resolver = TenantResolver::new(InMemoryRegistry::from_ids(["acme".parse()?])?,
    ///             TenancyConfig::default()).anonymous().shared();
    ///         let fair = FairLayer::builder(64, Limits::new(100, 100, 8)?)
    ///             .metrics_labels(TenantLabels::new(10).refresh_every(1))
    ///             .build()?;
    ///         let app = Router::new().route("/", get(|| async { "ok" }))
    ///             .layer((TenantLayer::new(resolver), fair));
    ///         let request = http::Request::get("/").header("x-tenant-id", "acme")
    ///             .body(axum::body::Body::empty())?;
    ///         app.oneshot(request).await?;
    ///         Ok(())
    ///     })
    /// })?;
    /// let text = handle.render();
    /// assert!(text.contains(r#"tenant_requests_total{tenant="acme",plan="free"} 1"#), "{text}");
    /// # Ok(())
    /// # }
    /// ```
    pub fn metrics_labels(mut self, labels: impl Into<Arc<TenantLabels>>) -> Self {
        self.labels = Some(labels.into());
        self
    }

    /// The layer.
    pub fn build(self) -> Result<FairLayer, FairConfigError> {
        if self.concurrency == 0 {
            return Err(FairConfigError::ZeroConcurrency);
        }
        if !(self.full_weight.is_finite() && self.full_weight > 0.0) {
            return Err(FairConfigError::FullWeight);
        }
        Ok(FairLayer {
            shared: Arc::new(Shared::new(
                self.weights,
                self.full_weight,
                self.default_limits,
                self.plans,
                self.tenants,
                self.labels
                    .unwrap_or_else(|| Arc::new(TenantLabels::new(20))),
                // Four billion requests at once is no limit: the count fits half a word.
                self.concurrency.min(u32::MAX as usize) as u64,
            )),
        })
    }
}

/// Weighted fair admission, behind [`TenantLayer`](crate::TenantLayer) (it reads the
/// request's `TenantCtx`):
///
/// - **A concurrency limit.** At most `concurrency` requests run at once, and at most its
///   weighted share of them of one tenant (`⌈concurrency × weight / 14⌉`, see
///   [`FairLayerBuilder::full_weight`]): a tenant whose requests all wait on something slow
///   (its share of the database, say) holds that many slots and no more, and the others keep
///   the rest.
/// - **Weighted queues.** When all slots are taken, requests wait in one queue per tenant, and
///   each freed slot goes to the next request chosen by start-time fair queueing over the
///   tenants' plan weights ([`PlanWeights`], free 1, pro 3, enterprise 10): under saturation,
///   each backlogged tenant gets `weight / Σ weights` of the slots, its turns spread out rather
///   than in bursts (so a tenant bounded to few slots still gets its share when each of its
///   requests ends before its next turn).
/// - **Per-tenant limits** ([`Limits`]: rate, burst, queue bound) by plan, overridable per
///   tenant in configuration ([`FairLayerBuilder::tenant`]) or in the tenant's registry record
///   ([`TenantCtx::limits`], which wins); beyond them, `429` with `Retry-After`
///   ([`FairRejection`]). A tenant within its own limits is never refused, whatever the others
///   send.
/// - **Metrics** through the `metrics` facade, labelled by tenant with bounded cardinality
///   (the busiest tenants by name, the rest `other`, see [`TenantLabels`]):
///   `tenant_requests_total{tenant,plan}`, `tenant_rejections_total{tenant,reason}` (reason
///   `rate` or `queue`), `tenant_queue_wait_seconds{tenant}` (histogram, requests that waited).
///
/// A slot is held until the inner service's response future completes (not while the body
/// streams). A request dropped while queued gives its place up.
///
/// Uncontended (a free slot, the tenant within its limits), a request costs a lookup of its
/// tenant in its thread's cache of the layer's entries (no lock), a rate check if its limits
/// have a rate ([`Limits::without_rate`] have none, and cost no clock read), and one
/// compare-and-swap each for its share and its slot; the inner service's future is not boxed
/// again ([`FairFuture`]) and holds one reference count. Idle tenants' entries are pruned (see
/// [`FairLayer::tracked`]). Cheapest given to `TenantLayer` itself
/// ([`TenantLayer::fair`](crate::TenantLayer::fair)): admission then runs in its service, with
/// no second service cloned for every request (each clone of an `Arc` is two atomic
/// read-modify-writes, and `TenantService` clones its inner service once more per request).
/// As a layer of its own (below), give it in the same `layer` call as `TenantLayer` (a tuple:
/// the first is the outer layer): each `Router::layer` call wraps every route in one more
/// boxed service, cloned for every request, which costs more than the layer's own work.
///
/// ```
/// use axum::{routing::get, Router};
/// use tenant::http::{FairLayer, Limits, TenantLayer, TenantResolver};
/// use tenant::{InMemoryRegistry, Plan, TenancyConfig, TenantCtx};
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
///     .route("/whoami", get(|ctx: axum::Extension<TenantCtx>| async move { ctx.tenant_id().to_string() }))
///     // `fair` inside `TenantLayer` (it weighs the resolved tenant), in one `layer` call.
///     .layer((TenantLayer::new(resolver), fair));
///
/// let request = || http::Request::get("/whoami").header("x-tenant-id", "acme")
///     .body(axum::body::Body::empty());
/// assert_eq!(app.clone().oneshot(request()?).await?.status(), 200);
/// // acme is on the free plan here: one request a second, so the next is refused.
/// let refused = app.oneshot(request()?).await?;
/// assert_eq!(refused.status(), 429);
/// assert!(refused.headers().contains_key("retry-after"));
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct FairLayer {
    shared: Arc<Shared>,
}

impl fmt::Debug for FairLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FairLayer")
            .field("concurrency", &self.shared.core.limit)
            .field("in_flight", &self.shared.core.in_flight())
            .finish_non_exhaustive()
    }
}

impl FairLayer {
    /// A builder: at most `concurrency` requests at once, `limits` for every tenant whose plan
    /// has none of its own.
    pub fn builder(concurrency: usize, limits: Limits) -> FairLayerBuilder {
        FairLayerBuilder {
            concurrency,
            weights: PlanWeights::default(),
            full_weight: DEFAULT_FULL_WEIGHT,
            default_limits: limits,
            plans: HashMap::new(),
            tenants: HashMap::new(),
            labels: None,
        }
    }

    /// Requests running now (holding a slot).
    pub fn in_flight(&self) -> usize {
        self.shared.core.in_flight()
    }

    /// Requests of `tenant` waiting for a slot now.
    pub fn queued(&self, tenant: &TenantId) -> usize {
        self.shared.core.queues().len_of(tenant)
    }

    /// Tenants whose state (rate limiter, slots held) the layer keeps now. A tenant's entry is
    /// made on its first request and pruned once idle: when the layer keeps 256 entries or
    /// more, and again each time it keeps twice as many as after the last sweep, it drops the
    /// entries no request used since the sweep before, if that sweep is at least their rate
    /// limiter's refill time ago (`burst / per_second`: a fresh entry then admits exactly what
    /// the old one would) and they hold no slot and have nothing queued. So the entries kept
    /// are about the tenants active between two sweeps, not every tenant ever seen.
    ///
    /// ```
    /// use tenant::http::{FairLayer, Limits};
    ///
    /// let fair = FairLayer::builder(64, Limits::new(100, 100, 8)?).build()?;
    /// assert_eq!(fair.tracked(), 0);
    /// # Ok::<(), tenant::http::FairConfigError>(())
    /// ```
    pub fn tracked(&self) -> usize {
        self.shared.tracked()
    }
}

impl<S> tower_layer::Layer<S> for FairLayer {
    type Service = FairService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        FairService {
            inner,
            shared: Arc::clone(&self.shared),
        }
    }
}

impl FairLayer {
    /// Admits a request of `ctx`'s tenant, for `TenantLayer::fair`: its slot (held until
    /// dropped) once it has one, or the response refusing it.
    pub(crate) async fn admit(&self, ctx: &TenantCtx) -> Result<Held, Response> {
        match self.shared.admit(ctx) {
            Ok(Admission::Now(slot)) => Ok(Held(slot)),
            Ok(Admission::Wait(waiting, label)) => {
                let queued = Instant::now();
                let slot = waiting.slot().await;
                metrics::histogram!("tenant_queue_wait_seconds", "tenant" => label)
                    .record(queued.elapsed().as_secs_f64());
                Ok(Held(slot))
            }
            Err((rejection, label)) => {
                metrics::counter!("tenant_rejections_total", "tenant" => label, "reason" => rejection.reason())
                    .increment(1);
                Err(rejection.into_response())
            }
        }
    }
}

/// A request's slot, from [`FairLayer::admit`]: given back when dropped.
pub(crate) struct Held(#[allow(dead_code, reason = "held for its drop")] Slot);

/// The service [`FairLayer`] wraps around the application.
#[derive(Clone)]
pub struct FairService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S: fmt::Debug> fmt::Debug for FairService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FairService")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, B> tower_service::Service<http::Request<B>> for FairService<S>
where
    S: tower_service::Service<http::Request<B>, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = FairFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        // Admission is decided here, on the request's own context (no clone of it): an
        // admitted request calls the inner service at once (the one polled ready), and only a
        // queued one leaves its wait and the inner call to a boxed future.
        let Some(ctx) = request.extensions().get::<TenantCtx>() else {
            tracing::error!("FairLayer without a TenantCtx: put TenantLayer in front of it");
            return FairFuture::refused(FairRejection::NoTenant.into_response());
        };
        match self.shared.admit(ctx) {
            Ok(Admission::Now(slot)) => FairFuture {
                state: State::Admitted {
                    future: self.inner.call(request),
                    slot: Some(slot),
                },
            },
            Ok(Admission::Wait(waiting, label)) => {
                // The clone that was polled ready is the one that serves this request, later.
                let clone = self.inner.clone();
                let mut inner = std::mem::replace(&mut self.inner, clone);
                FairFuture {
                    state: State::Queued {
                        future: Box::pin(async move {
                            let queued = Instant::now();
                            let slot = waiting.slot().await;
                            metrics::histogram!("tenant_queue_wait_seconds", "tenant" => label)
                                .record(queued.elapsed().as_secs_f64());
                            let response = inner.call(request).await;
                            drop(slot);
                            response
                        }),
                    },
                }
            }
            Err((rejection, label)) => {
                metrics::counter!("tenant_rejections_total", "tenant" => label, "reason" => rejection.reason())
                    .increment(1);
                FairFuture::refused(rejection.into_response())
            }
        }
    }
}

pin_project_lite::pin_project! {
    /// [`FairService`]'s response future: the inner service's own future while the request
    /// holds its slot (no box, the slot given back when it completes or is dropped), a boxed
    /// one for a request that waited in a queue, or a refusal.
    pub struct FairFuture<F: Future> {
        #[pin]
        state: State<F>,
    }
}

pin_project_lite::pin_project! {
    #[project = StateProj]
    enum State<F: Future> {
        Admitted {
            #[pin]
            future: F,
            slot: Option<Slot>,
        },
        Queued {
            future: BoxFuture<F::Output>,
        },
        Refused {
            response: Option<Response>,
        },
    }
}

impl<F: Future> FairFuture<F> {
    fn refused(response: Response) -> Self {
        FairFuture {
            state: State::Refused {
                response: Some(response),
            },
        }
    }
}

impl<F: Future> fmt::Debug for FairFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            State::Admitted { .. } => "admitted",
            State::Queued { .. } => "queued",
            State::Refused { .. } => "refused",
        };
        f.debug_struct("FairFuture").field("state", &state).finish()
    }
}

impl<F, E> Future for FairFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Admitted { future, slot } => {
                let output = std::task::ready!(future.poll(cx));
                // The slot goes back as soon as the response is ready, not when the future
                // is dropped later.
                drop(slot.take());
                Poll::Ready(output)
            }
            StateProj::Queued { future } => future.as_mut().poll(cx),
            StateProj::Refused { response } => match response.take() {
                Some(response) => Poll::Ready(Ok(response)),
                // Polled again after it completed: it has nothing left to give.
                None => Poll::Pending,
            },
        }
    }
}
