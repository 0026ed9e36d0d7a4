//! Weighted fair admission (feature `fair`): [`FairLayer`], behind [`TenantLayer`].
//!
//! [`TenantLayer`]: crate::TenantLayer

mod drr;

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum_core::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use tenant_core::labels::TenantLabels;
use tenant_core::{Plan, PlanWeights, TenantCtx, TenantId};
use tokio::sync::oneshot;

use crate::Problem;
use drr::Drr;

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// One tenant's limits at the boundary.
///
/// - `per_second` and `burst`: its requests are admitted at `per_second` on average with
///   bursts of up to `burst` (GCRA, by `governor`); beyond that, `429` with `Retry-After`.
/// - `queue`: when the service is at its concurrency limit, at most `queue` of its requests
///   wait for a slot; the next one is answered `429` at once.
///
/// Each tenant's limits count only its own requests, so a tenant within them is never refused
/// because of another (it may wait, in its own queue, for its weighted share of the slots).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Sustained requests per second.
    pub per_second: NonZeroU32,
    /// Requests admitted at once above the sustained rate.
    pub burst: NonZeroU32,
    /// Requests that may wait for a slot.
    pub queue: usize,
}

impl Limits {
    /// `per_second` requests a second, bursts of `burst`, `queue` waiting; a zero rate or burst
    /// is [`FairConfigError::ZeroRate`].
    ///
    /// ```
    /// use tenant::http::Limits;
    ///
    /// let free = Limits::new(50, 100, 16)?;
    /// assert_eq!(free.per_second.get(), 50);
    /// assert!(Limits::new(0, 1, 1).is_err());
    /// # Ok::<(), tenant::http::FairConfigError>(())
    /// ```
    pub fn new(per_second: u32, burst: u32, queue: usize) -> Result<Self, FairConfigError> {
        Ok(Limits {
            per_second: NonZeroU32::new(per_second).ok_or(FairConfigError::ZeroRate)?,
            burst: NonZeroU32::new(burst).ok_or(FairConfigError::ZeroRate)?,
            queue,
        })
    }

    fn quota(&self) -> Quota {
        Quota::per_second(self.per_second).allow_burst(self.burst)
    }
}

/// A [`FairLayer`] configuration that cannot work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FairConfigError {
    /// A concurrency limit of zero would admit nothing.
    #[error("the concurrency limit must be at least 1")]
    ZeroConcurrency,
    /// A rate or burst of zero would admit nothing.
    #[error("a rate limit needs a rate and a burst of at least 1")]
    ZeroRate,
}

/// Why [`FairLayer`] refused a request: `429 Too Many Requests` as an RFC 9457 problem with
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

/// Builds a [`FairLayer`]: see there.
#[derive(Debug)]
pub struct FairLayerBuilder {
    concurrency: usize,
    weights: PlanWeights,
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

    /// The limits of every tenant on `plan`, unless [`tenant`](Self::tenant) overrides them.
    pub fn plan(mut self, plan: Plan, limits: Limits) -> Self {
        self.plans.insert(plan, limits);
        self
    }

    /// The limits of one tenant, whatever its plan (from configuration: the registry's record
    /// does not carry limits).
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
    ///             .layer(fair).layer(TenantLayer::new(resolver));
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
        let plans = self
            .plans
            .into_iter()
            .map(|(plan, limits)| (plan, (limits, RateLimiter::keyed(limits.quota()))))
            .collect();
        let tenants = self
            .tenants
            .into_iter()
            .map(|(id, limits)| (id, (limits, RateLimiter::direct(limits.quota()))))
            .collect();
        Ok(FairLayer {
            shared: Arc::new(Shared {
                weights: self.weights,
                default_limits: (
                    self.default_limits,
                    RateLimiter::keyed(self.default_limits.quota()),
                ),
                plans,
                tenants,
                labels: self
                    .labels
                    .unwrap_or_else(|| Arc::new(TenantLabels::new(20))),
                slots: Mutex::new(Slots {
                    limit: self.concurrency,
                    in_flight: 0,
                    queues: Drr::default(),
                }),
            }),
        })
    }
}

struct Slots {
    limit: usize,
    in_flight: usize,
    queues: Drr<oneshot::Sender<()>>,
}

struct Shared {
    weights: PlanWeights,
    default_limits: (Limits, DefaultKeyedRateLimiter<TenantId>),
    plans: HashMap<Plan, (Limits, DefaultKeyedRateLimiter<TenantId>)>,
    tenants: HashMap<TenantId, (Limits, DefaultDirectRateLimiter)>,
    labels: Arc<TenantLabels>,
    slots: Mutex<Slots>,
}

impl Shared {
    fn slots(&self) -> MutexGuard<'_, Slots> {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The tenant's queue bound, after its rate limit admitted the request.
    fn admit_rate(&self, ctx: &TenantCtx) -> Result<usize, FairRejection> {
        let id = ctx.tenant_id();
        let checked = if let Some((limits, limiter)) = self.tenants.get(id) {
            limiter.check().map(|_| limits.queue)
        } else {
            let (limits, limiter) = self.plans.get(ctx.plan()).unwrap_or(&self.default_limits);
            limiter.check_key(id).map(|_| limits.queue)
        };
        checked.map_err(|not_until| FairRejection::Rate {
            retry_after: not_until.wait_time_from(DefaultClock::default().now()),
        })
    }

    /// A slot now, or a place in the tenant's queue, or a refusal.
    fn acquire(
        self: &Arc<Self>,
        ctx: &TenantCtx,
        queue: usize,
    ) -> Result<Admission, FairRejection> {
        let mut slots = self.slots();
        if slots.in_flight < slots.limit && slots.queues.is_empty() {
            slots.in_flight += 1;
            return Ok(Admission::Now(Slot(Arc::clone(self))));
        }
        if slots.queues.len_of(ctx.tenant_id()) >= queue {
            return Err(FairRejection::QueueFull);
        }
        let (sender, receiver) = oneshot::channel();
        let weight = self.weights.weight(ctx.plan());
        slots.queues.push(ctx.tenant_id(), weight, sender);
        Ok(Admission::Wait(Waiting {
            shared: Arc::clone(self),
            receiver: Some(receiver),
        }))
    }

    /// Hands a freed slot to the next queued request the weights choose, or frees it.
    fn release(&self) {
        let mut slots = self.slots();
        while let Some((_, waiter)) = slots.queues.pop() {
            if waiter.send(()).is_ok() {
                return;
            }
            // Its request was dropped while waiting: the slot goes to the next one.
        }
        slots.in_flight = slots.in_flight.saturating_sub(1);
    }
}

enum Admission {
    Now(Slot),
    Wait(Waiting),
}

/// A held slot, given back (to the next queued request or the pool) when dropped.
struct Slot(Arc<Shared>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.release();
    }
}

/// A queued request. Dropped before it got its slot, it gives back a slot handed to it in the
/// meantime, so a cancelled request never keeps one.
struct Waiting {
    shared: Arc<Shared>,
    receiver: Option<oneshot::Receiver<()>>,
}

impl Waiting {
    async fn slot(mut self) -> Slot {
        if let Some(receiver) = self.receiver.as_mut() {
            // The sender is dropped only after `send` or with the whole layer.
            let _ = receiver.await;
        }
        self.receiver = None;
        Slot(Arc::clone(&self.shared))
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if let Some(mut receiver) = self.receiver.take() {
            receiver.close();
            if receiver.try_recv().is_ok() {
                self.shared.release();
            }
        }
    }
}

/// Weighted fair admission, behind [`TenantLayer`](crate::TenantLayer) (it reads the
/// request's `TenantCtx`):
///
/// - **A concurrency limit.** At most `concurrency` requests run at once.
/// - **Weighted queues.** When all slots are taken, requests wait in one queue per tenant, and
///   each freed slot goes to the next request chosen by deficit round robin over the tenants'
///   plan weights ([`PlanWeights`], free 1, pro 3, enterprise 10): under saturation, each
///   backlogged tenant gets `weight / Σ weights` of the slots.
/// - **Per-tenant limits** ([`Limits`]: rate, burst, queue bound) by plan, overridable per
///   tenant from configuration; beyond them, `429` with `Retry-After`
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
///     .layer(fair) // inner: runs after the tenant is resolved
///     .layer(TenantLayer::new(resolver));
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
        let slots = self.shared.slots();
        f.debug_struct("FairLayer")
            .field("concurrency", &slots.limit)
            .field("in_flight", &slots.in_flight)
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
            default_limits: limits,
            plans: HashMap::new(),
            tenants: HashMap::new(),
            labels: None,
        }
    }

    /// Requests running now (holding a slot).
    pub fn in_flight(&self) -> usize {
        self.shared.slots().in_flight
    }

    /// Requests of `tenant` waiting for a slot now.
    pub fn queued(&self, tenant: &TenantId) -> usize {
        self.shared.slots().queues.len_of(tenant)
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
    type Future = BoxFuture<Result<Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        // The clone that was polled ready is the one that serves this request.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        // Admission is decided here, on the request's own context (no clone of it): only the
        // wait for a queued slot and the inner call are left to the future.
        let Some(ctx) = request.extensions().get::<TenantCtx>() else {
            tracing::error!("FairLayer without a TenantCtx: put TenantLayer in front of it");
            let response = FairRejection::NoTenant.into_response();
            // Not `future::ready`: that would hold a `Result` with `S::Error`, which need not
            // be `Send`.
            return Box::pin(async move { Ok(response) });
        };
        let shared = &self.shared;
        let label = shared.labels.label(ctx.tenant_id());
        metrics::counter!("tenant_requests_total", "tenant" => Arc::clone(&label), "plan" => plan_label(ctx.plan()))
            .increment(1);
        let admitted = shared
            .admit_rate(ctx)
            .and_then(|queue| shared.acquire(ctx, queue));
        match admitted {
            Ok(Admission::Now(slot)) => Box::pin(async move {
                let response = inner.call(request).await;
                drop(slot);
                response
            }),
            Ok(Admission::Wait(waiting)) => Box::pin(async move {
                let queued = Instant::now();
                let slot = waiting.slot().await;
                metrics::histogram!("tenant_queue_wait_seconds", "tenant" => label)
                    .record(queued.elapsed().as_secs_f64());
                let response = inner.call(request).await;
                drop(slot);
                response
            }),
            Err(rejection) => {
                metrics::counter!("tenant_rejections_total", "tenant" => label, "reason" => rejection.reason())
                    .increment(1);
                let response = rejection.into_response();
                Box::pin(async move { Ok(response) })
            }
        }
    }
}

/// The `plan` label: the built-in plans as static strings (no allocation per request).
fn plan_label(plan: &Plan) -> metrics::SharedString {
    match plan {
        Plan::Free => metrics::SharedString::const_str("free"),
        Plan::Pro => metrics::SharedString::const_str("pro"),
        Plan::Enterprise => metrics::SharedString::const_str("enterprise"),
        other => metrics::SharedString::from(other.as_str().to_owned()),
    }
}
