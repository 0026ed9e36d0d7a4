//! The admission state the layer shares between requests: per-tenant entries (limits, rate
//! limiter, share of the slots), the slots and the weighted queues.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, RateLimiter};
use tenant_core::labels::TenantLabels;
use tenant_core::{Plan, PlanWeights, TenantCtx, TenantId};
use tokio::sync::oneshot;

use super::sfq::Sfq;
use super::{FairRejection, Limits};

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
pub(super) struct Entry {
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
pub(super) struct Share {
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

pub(super) type Tenants = HashMap<TenantId, Entry, foldhash::fast::RandomState>;

/// A queued request: its tenant's share (taken when it is handed a slot) and its wake-up.
pub(super) type Queued = (Arc<Share>, oneshot::Sender<()>);

pub(super) struct Shared {
    pub(super) weights: PlanWeights,
    pub(super) full_weight: f64,
    pub(super) default_limits: Limits,
    pub(super) plans: HashMap<Plan, Limits>,
    pub(super) overrides: HashMap<TenantId, Limits>,
    pub(super) labels: Arc<TenantLabels>,
    /// One entry per tenant seen (tenants `TenantLayer` verified, so bounded by the registry).
    pub(super) tenants: RwLock<Tenants>,
    /// The concurrency limit (at most `u32::MAX`, so that it fits `state`'s half).
    pub(super) limit: u64,
    /// Requests holding a slot (low 32 bits) and queued for one (high 32 bits), in one word:
    /// an admission with nobody queued, and a release with nobody to hand the slot to, are one
    /// compare-and-swap each, and neither can miss a request queued at the same moment.
    pub(super) state: AtomicU64,
    /// The queued requests; `state`'s queued half changes only under this lock (so, under it,
    /// it is the number of requests in the queues).
    pub(super) queues: Mutex<Sfq<Queued>>,
}

impl Shared {
    pub(super) fn queues(&self) -> MutexGuard<'_, Sfq<Queued>> {
        self.queues.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn in_flight(&self) -> usize {
        (self.state.load(Ordering::Acquire) & (QUEUED - 1)) as usize
    }

    /// Counts the request and decides it: a slot now, a place in the tenant's queue, or a
    /// refusal (with the tenant's label, for the rejection metric).
    pub(super) fn admit(
        self: &Arc<Self>,
        ctx: &TenantCtx,
    ) -> Result<Admission, (FairRejection, Arc<str>)> {
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

    pub(super) fn slot(self: &Arc<Self>, share: &Arc<Share>) -> Slot {
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

pub(super) enum Admission {
    Now(Slot),
    Wait(Waiting, Arc<str>),
}

/// A held slot and one of its tenant's share, given back (the slot to the next queued request
/// or the pool) when dropped.
pub(super) struct Slot {
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
pub(super) struct Waiting {
    shared: Arc<Shared>,
    share: Arc<Share>,
    receiver: Option<oneshot::Receiver<()>>,
}

impl Waiting {
    pub(super) async fn slot(mut self) -> Slot {
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

/// The `plan` label: the built-in plans as static strings (no allocation per request).
fn plan_label(plan: &Plan) -> metrics::SharedString {
    match plan {
        Plan::Free => metrics::SharedString::const_str("free"),
        Plan::Pro => metrics::SharedString::const_str("pro"),
        Plan::Enterprise => metrics::SharedString::const_str("enterprise"),
        other => metrics::SharedString::from(other.as_str().to_owned()),
    }
}
