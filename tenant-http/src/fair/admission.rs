//! The admission state the layer shares between requests: per-tenant entries (limits, rate
//! limiter, share of the slots), the slots and the weighted queues, and each thread's cache of
//! the entries.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, Weak};
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tenant_core::labels::TenantLabels;
use tenant_core::{Plan, PlanWeights, TenantCtx, TenantId};
use tokio::sync::oneshot;

use super::sfq::Sfq;
use super::{FairRejection, Limits};

/// Requests of one tenant a thread counts before it reports them to the labels' ranking in one
/// call (`TenantLabels::label_n`): the ranking's lock once per batch instead of once per request.
const RANK_BATCH: u64 = 16;

/// One request holding a slot, in [`Core::state`]'s low 32 bits.
const IN_FLIGHT: u64 = 1;
/// One request queued for a slot, in [`Core::state`]'s high 32 bits.
const QUEUED: u64 = 1 << 32;

/// In [`Entry::held`]: the slots the tenant's requests hold (the low bits).
const HELD: u64 = TOUCHED - 1;
/// In [`Entry::held`]: the tenant took a slot or queued since the last sweep (set by the same
/// compare-and-swap that takes the slot, so it costs nothing more).
const TOUCHED: u64 = 1 << 62;
/// In [`Entry::held`]: the entry was pruned; a request that finds it takes the tenant's new one.
const PRUNED: u64 = 1 << 63;

/// The layer sweeps its idle entries when it holds this many (at least), and then when it
/// holds twice as many as the last sweep left.
pub(super) const SWEEP_AT_LEAST: usize = 256;

/// Tenants a thread caches per layer, and layers per thread: beyond them a thread's cache is
/// cleared or its least recent layer's dropped (bounded memory; a miss costs the shared map's
/// read lock, as every request did before the cache).
const CACHED_TENANTS: usize = 1024;
const CACHED_LAYERS: usize = 4;

static REQUESTS: metrics::Metadata<'static> =
    metrics::Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()));

/// Distinguishes layers in the threads' caches.
static LAYER_IDS: AtomicU64 = AtomicU64::new(0);

/// The slots and the queues: what a held slot and a queued request need, apart from the map of
/// tenants (so that an entry can point here without a cycle through the map).
pub(super) struct Core {
    weights: PlanWeights,
    /// The concurrency limit (at most `u32::MAX`, so that it fits `state`'s half).
    pub(super) limit: u64,
    /// Requests holding a slot (low 32 bits) and queued for one (high 32 bits), in one word:
    /// an admission with nobody queued, and a release with nobody to hand the slot to, are one
    /// compare-and-swap each, and neither can miss a request queued at the same moment.
    state: AtomicU64,
    /// The queued requests; `state`'s queued half changes only under this lock (so, under it,
    /// it is the number of requests in the queues).
    queues: Mutex<Sfq<Queued>>,
}

/// A queued request: its tenant's entry (its share taken when it is handed a slot; weak, so
/// that the queues hold no cycle back to here) and its wake-up.
type Queued = (Weak<Entry>, oneshot::Sender<()>);

/// What the layer keeps per tenant. Each thread caches the entries it uses, so an uncontended
/// request costs no lock: its rate check (if its plan has a rate limit) and one
/// compare-and-swap each for its share and its slot.
pub(super) struct Entry {
    /// The plan the limits were chosen for, and the registry's limits for the tenant when they
    /// were: a tenant whose plan or own limits changed gets a fresh entry.
    plan: Plan,
    own: Option<Limits>,
    queue: usize,
    /// `None` for limits that are no rate limit ([`Limits::is_rate_limited`]).
    limiter: Option<DefaultDirectRateLimiter>,
    /// How long an emptied limiter takes to be full again: an entry idle that long may be
    /// pruned, since a fresh one admits exactly what it would.
    refill: Duration,
    /// Slots held ([`HELD`]), and the [`TOUCHED`] and [`PRUNED`] flags.
    held: AtomicU64,
    /// The most slots the tenant may hold: its weighted share of the concurrency limit, so that
    /// a tenant whose requests all wait on something slow (its database share, say) cannot take
    /// every slot and keep the others at the door.
    bound: u64,
    core: Arc<Core>,
}

enum Take {
    Taken,
    AtBound,
    Pruned,
}

impl Entry {
    /// One more slot of the tenant's share, if it is under its bound.
    fn take(&self) -> Take {
        let mut held = self.held.load(Ordering::Acquire);
        loop {
            if held & PRUNED != 0 {
                return Take::Pruned;
            }
            if held & HELD >= self.bound {
                return Take::AtBound;
            }
            match self.held.compare_exchange_weak(
                held,
                (held + 1) | TOUCHED,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Take::Taken,
                Err(now) => held = now,
            }
        }
    }

    fn give_back(&self) {
        self.held.fetch_sub(1, Ordering::AcqRel);
    }

    /// Whether the entry's limits are the ones `ctx` gets: chosen for its plan and its own
    /// limits as the registry had them.
    fn is_for(&self, ctx: &TenantCtx) -> bool {
        self.plan == *ctx.plan() && self.own == ctx.limits()
    }

    fn is_pruned(&self) -> bool {
        self.held.load(Ordering::Acquire) & PRUNED != 0
    }
}

fn requests_key(name: &Arc<str>, plan: &Plan) -> metrics::Key {
    metrics::Key::from_parts(
        "tenant_requests_total",
        vec![
            metrics::Label::new("tenant", metrics::SharedString::from(Arc::clone(name))),
            metrics::Label::new("plan", plan_label(plan)),
        ],
    )
}

#[derive(Default)]
pub(super) struct Tenants {
    map: HashMap<TenantId, Arc<Entry>, foldhash::fast::RandomState>,
    /// The map's size at which the next sweep runs.
    sweep_at: usize,
    last_sweep: Option<Instant>,
}

pub(super) struct Shared {
    id: u64,
    weights: PlanWeights,
    full_weight: f64,
    default_limits: Limits,
    plans: HashMap<Plan, Limits>,
    overrides: HashMap<TenantId, Limits>,
    labels: Arc<TenantLabels>,
    /// The entries' limiters' clock, built once: building one runs CPUID (to find a usable
    /// TSC), which a virtual machine traps, and a new tenant's entry would pay it.
    clock: DefaultClock,
    /// One entry per tenant seen lately (tenants `TenantLayer` verified), idle ones pruned.
    tenants: RwLock<Tenants>,
    /// Moves on whenever entries are pruned: the threads' caches drop theirs.
    epoch: AtomicU64,
    pub(super) core: Arc<Core>,
}

/// A thread's view of one tenant's entry, with what only this thread needs of it (no atomic
/// read-modify-write per request for the ranking or the label).
struct Local {
    entry: Arc<Entry>,
    /// Requests counted here and not reported to the ranking yet.
    unranked: u64,
    /// The labels' generation `name` was checked against.
    generation: u64,
    /// The tenant's metrics label, and its request counter's key built once per label (a
    /// `metrics::Key` keeps its hash: no allocation or hashing of labels per request).
    name: Arc<str>,
    requests: metrics::Key,
}

struct LayerCache {
    layer: u64,
    epoch: u64,
    tenants: HashMap<TenantId, Local, foldhash::fast::RandomState>,
}

thread_local! {
    static CACHES: RefCell<Vec<LayerCache>> = const { RefCell::new(Vec::new()) };
}

impl Shared {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        weights: PlanWeights,
        full_weight: f64,
        default_limits: Limits,
        plans: HashMap<Plan, Limits>,
        overrides: HashMap<TenantId, Limits>,
        labels: Arc<TenantLabels>,
        limit: u64,
    ) -> Shared {
        Shared {
            id: LAYER_IDS.fetch_add(1, Ordering::Relaxed),
            weights,
            full_weight,
            default_limits,
            plans,
            overrides,
            labels,
            clock: DefaultClock::default(),
            tenants: RwLock::new(Tenants {
                sweep_at: SWEEP_AT_LEAST,
                ..Tenants::default()
            }),
            epoch: AtomicU64::new(0),
            core: Arc::new(Core {
                weights,
                limit,
                state: AtomicU64::new(0),
                queues: Mutex::new(Sfq::default()),
            }),
        }
    }

    /// The entries kept now (pruned ones gone).
    pub(super) fn tracked(&self) -> usize {
        self.tenants
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .map
            .len()
    }

    /// Counts the request and decides it: a slot now, a place in the tenant's queue, or a
    /// refusal (with the tenant's label, for the rejection metric).
    pub(super) fn admit(&self, ctx: &TenantCtx) -> Result<Admission, (FairRejection, Arc<str>)> {
        let mut counted = false;
        loop {
            let cached = CACHES.try_with(|caches| {
                let mut caches = caches.borrow_mut();
                let (local, reported) = self.local(&mut caches, ctx);
                if !counted {
                    self.count(local, ctx, reported);
                }
                let decision = self.admit_entry(&local.entry, ctx);
                // The label only for a request that waits or is refused: no reference count
                // taken and dropped for an admitted one.
                let name = match decision {
                    Decided::Now(_) | Decided::Pruned => None,
                    Decided::Wait(_) | Decided::Refused(_) => Some(Arc::clone(&local.name)),
                };
                (decision, name)
            });
            let (decision, name) = match cached {
                Ok(decided) => decided,
                // The thread is exiting (its cache is gone): the shared map alone.
                Err(_) => {
                    let entry = self.entry(ctx);
                    let name = self.labels.label(ctx.tenant_id());
                    if !counted {
                        self.increment(&requests_key(&name, ctx.plan()));
                    }
                    (self.admit_entry(&entry, ctx), Some(name))
                }
            };
            counted = true;
            let label = || name.unwrap_or_else(|| self.labels.current(ctx.tenant_id()));
            match decision {
                Decided::Now(entry) => return Ok(Admission::Now(Slot { entry })),
                Decided::Wait(waiting) => return Ok(Admission::Wait(waiting, label())),
                Decided::Refused(rejection) => return Err((rejection, label())),
                // Pruned between the lookup and the decision (it was idle): the next lookup
                // finds the tenant's new entry.
                Decided::Pruned => continue,
            }
        }
    }

    /// This thread's entry for the request's tenant, looked up in the shared map (and cached)
    /// the first time, after a sweep pruned entries, or when the tenant's plan changed; and
    /// whether this request was reported to the ranking already (the first one here is, for
    /// the tenant's label).
    fn local<'c>(&self, caches: &'c mut Vec<LayerCache>, ctx: &TenantCtx) -> (&'c mut Local, bool) {
        let index = match caches.iter().position(|c| c.layer == self.id) {
            Some(index) => index,
            None => {
                if caches.len() >= CACHED_LAYERS {
                    caches.remove(0);
                }
                caches.push(LayerCache {
                    layer: self.id,
                    epoch: self.epoch.load(Ordering::Acquire),
                    tenants: HashMap::default(),
                });
                caches.len() - 1
            }
        };
        let cache = &mut caches[index];
        let epoch = self.epoch.load(Ordering::Acquire);
        if cache.epoch != epoch {
            self.flush(cache);
            cache.epoch = epoch;
        }
        let id = ctx.tenant_id();
        let fresh = match cache.tenants.get(id) {
            Some(local) => !local.entry.is_for(ctx) || local.entry.is_pruned(),
            None => {
                if cache.tenants.len() >= CACHED_TENANTS {
                    self.flush(cache);
                }
                true
            }
        };
        if fresh {
            let entry = self.entry(ctx);
            let generation = self.labels.generation();
            let name = self.labels.label(id);
            let requests = requests_key(&name, ctx.plan());
            let local = Local {
                entry,
                unranked: 0,
                generation,
                name,
                requests,
            };
            cache.tenants.insert(id.clone(), local);
        }
        (cache.tenants.get_mut(id).expect("inserted above"), fresh)
    }

    /// Reports the counts not reported yet and forgets the thread's entries of this layer.
    fn flush(&self, cache: &mut LayerCache) {
        for (id, local) in cache.tenants.drain() {
            if local.unranked > 0 {
                self.labels.label_n(&id, local.unranked);
            }
        }
    }

    /// Counts the request in its metric, and for the labels' ranking, which hears of a
    /// thread's requests of a tenant in batches of [`RANK_BATCH`]; keeps the label current.
    fn count(&self, local: &mut Local, ctx: &TenantCtx, reported: bool) {
        // Read before the ranking is asked, so a ranking in between is seen next time.
        let generation = self.labels.generation();
        local.unranked += u64::from(!reported);
        let name = if local.unranked >= RANK_BATCH {
            let units = std::mem::take(&mut local.unranked);
            Some(self.labels.label_n(ctx.tenant_id(), units))
        } else if local.generation != generation {
            Some(self.labels.current(ctx.tenant_id()))
        } else {
            None
        };
        if let Some(name) = name {
            local.generation = generation;
            if name != local.name {
                local.requests = requests_key(&name, ctx.plan());
                local.name = name;
            }
        }
        self.increment(&local.requests);
    }

    fn increment(&self, key: &metrics::Key) {
        metrics::with_recorder(|recorder| recorder.register_counter(key, &REQUESTS)).increment(1);
    }

    /// The tenant's entry in the shared map, made on its first request, its first since its
    /// plan changed, or since its entry was pruned.
    fn entry(&self, ctx: &TenantCtx) -> Arc<Entry> {
        let id = ctx.tenant_id();
        let usable = |entry: &Arc<Entry>| entry.is_for(ctx) && !entry.is_pruned();
        {
            let tenants = self.tenants.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(entry) = tenants.map.get(id).filter(|e| usable(e)) {
                return Arc::clone(entry);
            }
        }
        let mut tenants = self.tenants.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = tenants.map.get(id).filter(|e| usable(e)) {
            return Arc::clone(entry);
        }
        let entry = Arc::new(self.new_entry(ctx));
        tenants.map.insert(id.clone(), Arc::clone(&entry));
        if tenants.map.len() >= tenants.sweep_at {
            self.sweep(&mut tenants);
        }
        entry
    }

    /// Prunes the entries nobody used since the last sweep, if that sweep is at least their
    /// limiter's refill time ago (so a fresh entry admits exactly what the old one would), and
    /// that hold no slot and have nothing queued; marks the others unused.
    fn sweep(&self, tenants: &mut Tenants) {
        let now = Instant::now();
        let since = tenants.last_sweep.map(|last| now.duration_since(last));
        let mut pruned = false;
        {
            // Under the queues' lock: a request of a tenant being pruned is queued either
            // before (and the entry kept) or after (and it sees the entry pruned).
            let queues = self.core.queues();
            tenants.map.retain(|id, entry| {
                let held = entry.held.fetch_and(!TOUCHED, Ordering::AcqRel);
                if held != 0 || since.is_none_or(|since| since < entry.refill) {
                    return true;
                }
                if queues.len_of(id) > 0 {
                    return true;
                }
                let prune = entry
                    .held
                    .compare_exchange(0, PRUNED, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok();
                pruned |= prune;
                !prune
            });
        }
        if pruned {
            self.epoch.fetch_add(1, Ordering::AcqRel);
        }
        tenants.last_sweep = Some(now);
        tenants.sweep_at = tenants.map.len().saturating_mul(2).max(SWEEP_AT_LEAST);
    }

    fn new_entry(&self, ctx: &TenantCtx) -> Entry {
        // The registry's limits for the tenant first (an operator's latest word), then the
        // layer's configuration: the tenant's, its plan's, the default.
        let own = ctx.limits();
        let limits = own
            .as_ref()
            .or_else(|| self.overrides.get(ctx.tenant_id()))
            .or_else(|| self.plans.get(ctx.plan()))
            .unwrap_or(&self.default_limits);
        let quota = Quota::per_second(limits.per_second).allow_burst(limits.burst);
        let limited = limits.is_rate_limited();
        Entry {
            plan: ctx.plan().clone(),
            own,
            queue: limits.queue,
            limiter: limited.then(|| RateLimiter::direct_with_clock(quota, self.clock.clone())),
            // Without a limiter, nothing is lost with the entry.
            refill: match limited {
                true => quota.burst_size_replenished_in(),
                false => Duration::ZERO,
            },
            // Its first request is on its way: not prunable before the sweep after next.
            held: AtomicU64::new(TOUCHED),
            bound: self.share_of(ctx.plan()),
            core: Arc::clone(&self.core),
        }
    }

    /// The slots a tenant on `plan` may hold at once: `⌈limit × weight / full_weight⌉`, at
    /// least 1 and at most the limit.
    fn share_of(&self, plan: &Plan) -> u64 {
        let limit = self.core.limit;
        let weight = self.weights.weight(plan);
        let share = (limit as f64 * weight / self.full_weight).ceil();
        // `as` saturates: a huge or infinite share is the whole limit.
        (share as u64).clamp(1, limit.max(1))
    }

    fn admit_entry(&self, entry: &Arc<Entry>, ctx: &TenantCtx) -> Decided {
        if let Some(limiter) = &entry.limiter
            && let Err(not_until) = limiter.check()
        {
            if entry.is_pruned() {
                return Decided::Pruned;
            }
            // The limiter's own clock, not a new one: see `FloodGuard`'s budget.
            let retry_after = not_until.wait_time_from(limiter.clock().now());
            return Decided::Refused(FairRejection::Rate { retry_after });
        }
        match entry.take() {
            Take::Taken => {
                if self.core.try_acquire() {
                    return Decided::Now(Arc::clone(entry));
                }
                entry.give_back();
            }
            Take::AtBound => {}
            Take::Pruned => return Decided::Pruned,
        }
        self.core.enqueue(ctx, entry)
    }
}

impl Core {
    pub(super) fn queues(&self) -> MutexGuard<'_, Sfq<Queued>> {
        self.queues.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn in_flight(&self) -> usize {
        (self.state.load(Ordering::Acquire) & (QUEUED - 1)) as usize
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

    /// A place in the tenant's queue, or a slot freed in the meantime (the caller then holds
    /// it and one of its tenant's share), or a refusal. A tenant at its share waits even
    /// beside free slots (they are the others').
    fn enqueue(&self, ctx: &TenantCtx, entry: &Arc<Entry>) -> Decided {
        let mut queues = self.queues();
        // Used, whatever comes of it: its limiter may have been drawn on.
        let held = entry.held.fetch_or(TOUCHED, Ordering::AcqRel);
        if held & PRUNED != 0 {
            return Decided::Pruned;
        }
        // Behind the tenant's own queued requests, if it has any: a request that came later
        // never takes the slot one of them is about to be handed.
        let behind = queues.len_of(ctx.tenant_id()) > 0;
        let mut state = self.state.load(Ordering::Acquire);
        loop {
            // Under the lock, a free slot means nobody queued may take it (a release hands
            // slots to the queued requests that may take them first).
            if !behind && (state & (QUEUED - 1)) < self.limit {
                match entry.take() {
                    Take::Taken => match self.state.compare_exchange_weak(
                        state,
                        state + IN_FLIGHT,
                        Ordering::AcqRel,
                        Ordering::Acquire,
                    ) {
                        Ok(_) => return Decided::Now(Arc::clone(entry)),
                        Err(now) => {
                            entry.give_back();
                            state = now;
                            continue;
                        }
                    },
                    Take::AtBound => {}
                    // Not while its queue's lock is held and it is in use (see `sweep`).
                    Take::Pruned => return Decided::Pruned,
                }
            }
            if queues.len_of(ctx.tenant_id()) >= entry.queue {
                return Decided::Refused(FairRejection::QueueFull);
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
        queues.push(ctx.tenant_id(), weight, (Arc::downgrade(entry), sender));
        Decided::Wait(Waiting {
            entry: Arc::clone(entry),
            receiver: Some(receiver),
        })
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
        // one of it): a tenant at its share is passed over, and keeps its queue. A request
        // whose entry is gone was dropped while waiting: it is taken, to be passed over below.
        loop {
            let mut taken = None;
            let popped = queues.pop_where(|(entry, _)| match entry.upgrade() {
                Some(entry) => {
                    let eligible = matches!(entry.take(), Take::Taken);
                    if eligible {
                        taken = Some(entry);
                    }
                    eligible
                }
                None => true,
            });
            let Some((_, (_, waiter))) = popped else {
                break;
            };
            self.state.fetch_sub(QUEUED, Ordering::AcqRel);
            if waiter.send(()).is_ok() {
                return;
            }
            // Its request was dropped while waiting: the slot goes to the next one.
            if let Some(entry) = taken {
                entry.give_back();
            }
        }
        self.state.fetch_sub(IN_FLIGHT, Ordering::AcqRel);
    }
}

enum Decided {
    Now(Arc<Entry>),
    Wait(Waiting),
    Refused(FairRejection),
    Pruned,
}

pub(super) enum Admission {
    Now(Slot),
    Wait(Waiting, Arc<str>),
}

/// A held slot and one of its tenant's share, given back (the slot to the next queued request
/// or the pool) when dropped. One reference count: the entry leads to the slots.
pub(super) struct Slot {
    entry: Arc<Entry>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        // The share first: the tenant's own queued requests may then take the slot.
        self.entry.give_back();
        self.entry.core.release();
    }
}

/// A queued request. Dropped before it got its slot, it gives back a slot handed to it in the
/// meantime, so a cancelled request never keeps one.
pub(super) struct Waiting {
    entry: Arc<Entry>,
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
            entry: Arc::clone(&self.entry),
        }
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if let Some(mut receiver) = self.receiver.take() {
            receiver.close();
            if receiver.try_recv().is_ok() {
                self.entry.give_back();
                self.entry.core.release();
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
