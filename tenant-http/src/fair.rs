//! Weighted fair admission (feature `fair`): [`FairLayer`], behind [`TenantLayer`].
//!
//! [`TenantLayer`]: crate::TenantLayer

mod sfq;

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, RwLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum_core::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tenant_core::labels::TenantLabels;
use tenant_core::{Plan, PlanWeights, TenantCtx, TenantId};
use tokio::sync::oneshot;

use crate::Problem;
use sfq::Sfq;

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// The weight whose share of the slots would be all of them, by default: the sum of the
/// default plan weights (free 1 + pro 3 + enterprise 10), as in `tenant::sqlx::DbBudget`.
pub const DEFAULT_FULL_WEIGHT: f64 = 14.0;

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
    /// The full weight of the tenants' shares of the slots must be positive and finite.
    #[error("the full weight must be positive and finite")]
    FullWeight,
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
            shared: Arc::new(Shared {
                weights: self.weights,
                full_weight: self.full_weight,
                default_limits: self.default_limits,
                plans: self.plans,
                overrides: self.tenants,
                labels: self
                    .labels
                    .unwrap_or_else(|| Arc::new(TenantLabels::new(20))),
                tenants: RwLock::new(Tenants::default()),
                // Four billion requests at once is no limit: the count fits half a word.
                limit: self.concurrency.min(u32::MAX as usize) as u64,
                state: AtomicU64::new(0),
                queues: Mutex::new(Sfq::default()),
            }),
        })
    }
}

/// Requests of one tenant counted before they are reported to the labels' ranking in one call
/// (`TenantLabels::label_n`): the ranking's lock once per batch instead of once per request.
const RANK_BATCH: u64 = 16;

/// One request holding a slot, in [`Shared::state`]'s low 32 bits.
const IN_FLIGHT: u64 = 1;
/// One request queued for a slot, in [`Shared::state`]'s high 32 bits.
const QUEUED: u64 = 1 << 32;

static REQUESTS: metrics::Metadata<'static> =
    metrics::Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()));

/// What the layer keeps per tenant: found with one lookup per request, which is all an
/// uncontended request costs besides its rate check and one atomic for its slot.
struct Entry {
    /// The plan the limits were chosen for: a tenant whose plan changed gets a fresh entry.
    plan: Plan,
    queue: usize,
    limiter: DefaultDirectRateLimiter,
    /// The slots its requests hold, bounded by its weighted share.
    share: Arc<Share>,
    /// Requests not reported to the labels' ranking yet, and [`UNRANKED`] until the first is.
    unranked: AtomicU64,
    /// The labels' generation `name` was checked against.
    generation: AtomicU64,
    /// The tenant's metrics label, and its request counter's key built once per label (a
    /// `metrics::Key` keeps its hash: no allocation or hashing of labels per request).
    name: Arc<str>,
    requests: metrics::Key,
}

/// The slots one tenant's requests hold, at most `bound` (its plan's weighted share of the
/// concurrency limit): a tenant whose requests all wait on something slow (its database share,
/// say) cannot take every slot and keep the others at the door.
struct Share {
    held: AtomicUsize,
    bound: usize,
}

impl Share {
    /// One more slot for the tenant, if it is under its bound.
    fn take(&self) -> bool {
        let mut held = self.held.load(Ordering::Acquire);
        while held < self.bound {
            match self.held.compare_exchange_weak(
                held,
                held + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(now) => held = now,
            }
        }
        false
    }

    fn give_back(&self) {
        self.held.fetch_sub(1, Ordering::AcqRel);
    }
}

/// In [`Entry::unranked`]: the tenant's first request is reported to the ranking at once.
const UNRANKED: u64 = 1 << 63;

fn requests_key(name: &Arc<str>, plan: &Plan) -> metrics::Key {
    metrics::Key::from_parts(
        "tenant_requests_total",
        vec![
            metrics::Label::new("tenant", metrics::SharedString::from(Arc::clone(name))),
            metrics::Label::new("plan", plan_label(plan)),
        ],
    )
}

type Tenants = HashMap<TenantId, Entry, foldhash::fast::RandomState>;

/// A queued request: its tenant's share (taken when it is handed a slot) and its wake-up.
type Queued = (Arc<Share>, oneshot::Sender<()>);

struct Shared {
    weights: PlanWeights,
    full_weight: f64,
    default_limits: Limits,
    plans: HashMap<Plan, Limits>,
    overrides: HashMap<TenantId, Limits>,
    labels: Arc<TenantLabels>,
    /// One entry per tenant seen (tenants `TenantLayer` verified, so bounded by the registry).
    tenants: RwLock<Tenants>,
    /// The concurrency limit (at most `u32::MAX`, so that it fits `state`'s half).
    limit: u64,
    /// Requests holding a slot (low 32 bits) and queued for one (high 32 bits), in one word:
    /// an admission with nobody queued, and a release with nobody to hand the slot to, are one
    /// compare-and-swap each, and neither can miss a request queued at the same moment.
    state: AtomicU64,
    /// The queued requests; `state`'s queued half changes only under this lock (so, under it,
    /// it is the number of requests in the queues).
    queues: Mutex<Sfq<Queued>>,
}

impl Shared {
    fn queues(&self) -> MutexGuard<'_, Sfq<Queued>> {
        self.queues.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn in_flight(&self) -> usize {
        (self.state.load(Ordering::Acquire) & (QUEUED - 1)) as usize
    }

    /// Counts the request and decides it: a slot now, a place in the tenant's queue, or a
    /// refusal (with the tenant's label, for the rejection metric).
    fn admit(self: &Arc<Self>, ctx: &TenantCtx) -> Result<Admission, (FairRejection, Arc<str>)> {
        let id = ctx.tenant_id();
        // Read before the ranking is asked, so a ranking in between is seen next time.
        let generation = self.labels.generation();
        let reported = {
            let tenants = self.tenants.read().unwrap_or_else(PoisonError::into_inner);
            match tenants.get(id) {
                Some(entry) if entry.plan == *ctx.plan() => {
                    let reported = self.count(entry, id);
                    if self.label_holds(entry, id, generation, reported.as_ref()) {
                        return self.admit_entry(entry, ctx);
                    }
                    Some(reported)
                }
                _ => None,
            }
        };
        // A tenant's first request, its first since its plan changed, or since its label did.
        let mut tenants = self.tenants.write().unwrap_or_else(PoisonError::into_inner);
        let entry = tenants
            .entry(id.clone())
            .and_modify(|entry| {
                if entry.plan != *ctx.plan() {
                    *entry = self.new_entry(ctx);
                }
            })
            .or_insert_with(|| self.new_entry(ctx));
        let name = match reported {
            Some(Some(name)) => name,
            Some(None) => self.labels.current(id),
            None => self
                .count(entry, id)
                .unwrap_or_else(|| self.labels.current(id)),
        };
        if entry.name != name {
            entry.requests = requests_key(&name, ctx.plan());
            entry.name = name;
        }
        entry.generation.store(generation, Ordering::Relaxed);
        self.admit_entry(entry, ctx)
    }

    fn new_entry(&self, ctx: &TenantCtx) -> Entry {
        let limits = self
            .overrides
            .get(ctx.tenant_id())
            .or_else(|| self.plans.get(ctx.plan()))
            .unwrap_or(&self.default_limits);
        // Until the ranking is asked, on the entry's first request.
        let name: Arc<str> = Arc::from(tenant_core::labels::OTHER);
        Entry {
            plan: ctx.plan().clone(),
            queue: limits.queue,
            limiter: RateLimiter::direct(limits.quota()),
            share: Arc::new(Share {
                held: AtomicUsize::new(0),
                bound: self.share_of(ctx.plan()),
            }),
            unranked: AtomicU64::new(UNRANKED),
            generation: AtomicU64::new(u64::MAX),
            requests: requests_key(&name, ctx.plan()),
            name,
        }
    }

    /// The slots a tenant on `plan` may hold at once: `⌈limit × weight / full_weight⌉`, at
    /// least 1 and at most the limit.
    fn share_of(&self, plan: &Plan) -> usize {
        let weight = self.weights.weight(plan);
        let share = (self.limit as f64 * weight / self.full_weight).ceil();
        // `as` saturates: a huge or infinite share is the whole limit.
        (share as u64).clamp(1, self.limit.max(1)) as usize
    }

    /// Counts the request for the labels' ranking, which hears of a tenant's requests in
    /// batches of [`RANK_BATCH`] (its first one at once): the label it gave, if it was asked.
    fn count(&self, entry: &Entry, id: &TenantId) -> Option<Arc<str>> {
        if entry.unranked.fetch_add(1, Ordering::Relaxed) + 1 < RANK_BATCH {
            return None;
        }
        let units = entry.unranked.swap(0, Ordering::Relaxed) & !UNRANKED;
        Some(self.labels.label_n(id, units))
    }

    /// Whether the entry's label is still the tenant's (checked again only when the ranking
    /// changed since, or reported it).
    fn label_holds(
        &self,
        entry: &Entry,
        id: &TenantId,
        generation: u64,
        reported: Option<&Arc<str>>,
    ) -> bool {
        let holds = match reported {
            Some(name) => *name == entry.name,
            None if entry.generation.load(Ordering::Relaxed) == generation => return true,
            None => self.labels.current(id) == entry.name,
        };
        if holds {
            entry.generation.store(generation, Ordering::Relaxed);
        }
        holds
    }

    fn admit_entry(
        self: &Arc<Self>,
        entry: &Entry,
        ctx: &TenantCtx,
    ) -> Result<Admission, (FairRejection, Arc<str>)> {
        metrics::with_recorder(|recorder| recorder.register_counter(&entry.requests, &REQUESTS))
            .increment(1);
        if let Err(not_until) = entry.limiter.check() {
            let retry_after = not_until.wait_time_from(DefaultClock::default().now());
            return Err((FairRejection::Rate { retry_after }, Arc::clone(&entry.name)));
        }
        if entry.share.take() {
            if self.try_acquire() {
                return Ok(Admission::Now(self.slot(&entry.share)));
            }
            entry.share.give_back();
        }
        match self.enqueue(ctx, entry) {
            Ok(None) => Ok(Admission::Now(self.slot(&entry.share))),
            Ok(Some(waiting)) => Ok(Admission::Wait(waiting, Arc::clone(&entry.name))),
            Err(rejection) => Err((rejection, Arc::clone(&entry.name))),
        }
    }

    fn slot(self: &Arc<Self>, share: &Arc<Share>) -> Slot {
        Slot {
            shared: Arc::clone(self),
            share: Arc::clone(share),
        }
    }

    /// A slot, if one is free and nobody is queued for one: one compare-and-swap.
    fn try_acquire(&self) -> bool {
        let mut state = self.state.load(Ordering::Acquire);
        loop {
            if state >= QUEUED || state >= self.limit {
                return false;
            }
            match self.state.compare_exchange_weak(
                state,
                state + IN_FLIGHT,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(now) => state = now,
            }
        }
    }

    /// A place in the tenant's queue, or a slot freed in the meantime (`None`: the caller
    /// holds it and one of its tenant's share), or a refusal. A tenant at its share waits even
    /// beside free slots (they are the others').
    fn enqueue(
        self: &Arc<Self>,
        ctx: &TenantCtx,
        entry: &Entry,
    ) -> Result<Option<Waiting>, FairRejection> {
        let mut queues = self.queues();
        // Behind the tenant's own queued requests, if it has any: a request that came later
        // never takes the slot one of them is about to be handed.
        let behind = queues.len_of(ctx.tenant_id()) > 0;
        let mut state = self.state.load(Ordering::Acquire);
        loop {
            // Under the lock, a free slot means nobody queued may take it (a release hands
            // slots to the queued requests that may take them first).
            if !behind && (state & (QUEUED - 1)) < self.limit && entry.share.take() {
                match self.state.compare_exchange_weak(
                    state,
                    state + IN_FLIGHT,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => return Ok(None),
                    Err(now) => {
                        entry.share.give_back();
                        state = now;
                        continue;
                    }
                }
            }
            if queues.len_of(ctx.tenant_id()) >= entry.queue {
                return Err(FairRejection::QueueFull);
            }
            // Queued only if the state is still the one looked at: a release in between makes
            // this fail and look again, so no request waits beside a slot it may take.
            match self.state.compare_exchange_weak(
                state,
                state + QUEUED,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(now) => state = now,
            }
        }
        let (sender, receiver) = oneshot::channel();
        let weight = self.weights.weight(ctx.plan());
        queues.push(ctx.tenant_id(), weight, (Arc::clone(&entry.share), sender));
        Ok(Some(Waiting {
            shared: Arc::clone(self),
            share: Arc::clone(&entry.share),
            receiver: Some(receiver),
        }))
    }

    /// Hands a freed slot to the next queued request the weights choose, or frees it.
    fn release(&self) {
        let mut state = self.state.load(Ordering::Acquire);
        while state < QUEUED {
            match self.state.compare_exchange_weak(
                state,
                state - IN_FLIGHT,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return,
                Err(now) => state = now,
            }
        }
        let mut queues = self.queues();
        // To the next request the weights choose among the tenants under their share (taking
        // one of it): a tenant at its share is passed over, and keeps its queue.
        while let Some((_, (share, waiter))) = queues.pop_where(|(share, _)| share.take()) {
            self.state.fetch_sub(QUEUED, Ordering::AcqRel);
            if waiter.send(()).is_ok() {
                return;
            }
            // Its request was dropped while waiting: the slot goes to the next one.
            share.give_back();
        }
        self.state.fetch_sub(IN_FLIGHT, Ordering::AcqRel);
    }
}

enum Admission {
    Now(Slot),
    Wait(Waiting, Arc<str>),
}

/// A held slot and one of its tenant's share, given back (the slot to the next queued request
/// or the pool) when dropped.
struct Slot {
    shared: Arc<Shared>,
    share: Arc<Share>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        // The share first: the tenant's own queued requests may then take the slot.
        self.share.give_back();
        self.shared.release();
    }
}

/// A queued request. Dropped before it got its slot, it gives back a slot handed to it in the
/// meantime, so a cancelled request never keeps one.
struct Waiting {
    shared: Arc<Shared>,
    share: Arc<Share>,
    receiver: Option<oneshot::Receiver<()>>,
}

impl Waiting {
    async fn slot(mut self) -> Slot {
        if let Some(receiver) = self.receiver.as_mut() {
            // The sender is dropped only after `send` or with the whole layer.
            let _ = receiver.await;
        }
        self.receiver = None;
        Slot {
            shared: Arc::clone(&self.shared),
            share: Arc::clone(&self.share),
        }
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if let Some(mut receiver) = self.receiver.take() {
            receiver.close();
            if receiver.try_recv().is_ok() {
                self.share.give_back();
                self.shared.release();
            }
        }
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
/// Uncontended (a free slot, the tenant within its limits), a request costs one lookup of its
/// tenant, a rate check, and one compare-and-swap for its slot, and the inner service's future
/// is not boxed again ([`FairFuture`]). Give it to the router in the same `layer` call as
/// `TenantLayer` (a tuple: the first is the outer layer): each `Router::layer` call wraps
/// every route in one more boxed service, cloned for every request, which costs more than the
/// layer's own work.
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
            .field("concurrency", &self.shared.limit)
            .field("in_flight", &self.shared.in_flight())
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
        self.shared.in_flight()
    }

    /// Requests of `tenant` waiting for a slot now.
    pub fn queued(&self, tenant: &TenantId) -> usize {
        self.shared.queues().len_of(tenant)
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

/// The `plan` label: the built-in plans as static strings (no allocation per request).
fn plan_label(plan: &Plan) -> metrics::SharedString {
    match plan {
        Plan::Free => metrics::SharedString::const_str("free"),
        Plan::Pro => metrics::SharedString::const_str("pro"),
        Plan::Enterprise => metrics::SharedString::const_str("enterprise"),
        other => metrics::SharedString::from(other.as_str().to_owned()),
    }
}
