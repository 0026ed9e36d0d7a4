//! [`FloodGuard`]: bounds the lookups that ids nobody has seen cost the registry behind a cache.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_lock::OnceCell;
use governor::clock::Clock;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use super::{Tenant, TenantRegistry};
use crate::TenantId;

/// A lookup refused because the registry's budget for ids it has not found recently was spent.
/// Nothing is cached for it: the same id is looked up again once the budget refills, after
/// [`retry_after`](Self::retry_after) at the latest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many lookups of unknown tenants; retry after {} ms", retry_after.as_millis())]
pub struct OverBudget {
    /// When the budget has room for one more lookup.
    pub retry_after: Duration,
}

/// Why a [`FloodGuard`] lookup failed: the budget was spent, or the inner registry failed
/// (shared by every caller that waited on the same lookup, hence the `Arc`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GuardError<E: std::error::Error + 'static> {
    /// Over the budget for misses: see [`OverBudget`].
    #[error("the registry's budget for misses is spent")]
    OverBudget(#[source] OverBudget),
    /// The inner registry failed.
    #[error("the tenant registry failed")]
    Registry(#[source] Arc<E>),
}

impl<E: std::error::Error + 'static> Clone for GuardError<E> {
    fn clone(&self) -> Self {
        match self {
            GuardError::OverBudget(over) => GuardError::OverBudget(*over),
            GuardError::Registry(error) => GuardError::Registry(Arc::clone(error)),
        }
    }
}

/// `error`, or the first of its sources, if it is an [`OverBudget`]: how the request boundary
/// tells a spent budget from a registry that is down, whatever registry it was given.
///
/// ```
/// use std::time::Duration;
/// use tenant::registry::{over_budget, GuardError, OverBudget};
///
/// let spent = OverBudget { retry_after: Duration::from_millis(20) };
/// let error: GuardError<std::io::Error> = GuardError::OverBudget(spent);
/// assert_eq!(over_budget(&error), Some(spent));
/// assert_eq!(over_budget(&std::io::Error::other("down")), None);
/// ```
pub fn over_budget(error: &(dyn std::error::Error + 'static)) -> Option<OverBudget> {
    let mut next = Some(error);
    while let Some(error) = next {
        if let Some(over) = error.downcast_ref::<OverBudget>() {
            return Some(*over);
        }
        next = error.source();
    }
    None
}

type Flight<E> = Arc<OnceCell<Result<Option<Tenant>, GuardError<E>>>>;
/// The lookup in flight for each key, if any.
type Flights<E> = Mutex<HashMap<(By, TenantId), Flight<E>>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum By {
    Id,
    Slug,
}

/// Keys that found an active tenant, at most `capacity` of them, oldest forgotten first.
struct Known {
    keys: HashSet<(By, TenantId)>,
    order: VecDeque<(By, TenantId)>,
    capacity: usize,
}

impl Known {
    fn remember(&mut self, key: (By, TenantId)) {
        if self.capacity == 0 || self.keys.contains(&key) {
            return;
        }
        while self.keys.len() >= self.capacity {
            match self.order.pop_front() {
                Some(old) => self.keys.remove(&old),
                None => break,
            };
        }
        self.keys.insert(key.clone());
        self.order.push_back(key);
    }

    fn forget(&mut self, key: &(By, TenantId)) {
        if self.keys.remove(key) {
            self.order.retain(|k| k != key);
        }
    }
}

/// Guards a registry from floods of unknown ids. Put it *under* a
/// [`CachedRegistry`](super::CachedRegistry), which then calls it only on a cache miss:
///
/// - **One lookup in flight per key.** Concurrent misses on the same id or slug wait for the
///   one lookup already running and share its answer (or its error).
/// - **A budget for misses.** A key that has not found an active tenant here lately costs one
///   token of a rate limit shared by all such keys (`per_second`, with a burst of `burst`); over
///   it, the lookup fails at once with [`GuardError::OverBudget`] instead of reaching the inner
///   registry. Keys that found an active tenant (the last `known` of them) never pay, so a flood
///   of unknown ids does not refuse a live tenant whose cache entry expired.
///
/// A refusal is an error, and the cache does not store errors: a tenant created during a flood
/// is never cached as unknown because of it, and is found as soon as the budget refills. What
/// is cached as "not found" is only what the inner registry said, for the cache's own
/// not-found TTL (5 s by default, shorter than the minute events wait for an unknown tenant).
///
/// ```
/// use std::time::Duration;
/// use tenant::registry::{CachedRegistry, FloodGuard, GuardError, InMemoryRegistry};
/// use tenant::TenantRegistry;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let inner = InMemoryRegistry::from_ids(["acme".parse()?])?;
/// // Two unknown ids a second, at most two at once.
/// let guarded = FloodGuard::new(inner, 2, 2)?;
/// let registry = CachedRegistry::new(guarded, Duration::from_secs(30), 10_000);
///
/// assert!(registry.find_by_id(&"nobody-1".parse()?).await?.is_none());
/// assert!(registry.find_by_id(&"nobody-2".parse()?).await?.is_none());
/// let spent = registry.find_by_id(&"nobody-3".parse()?).await;
/// assert!(matches!(spent, Err(GuardError::OverBudget(_))));
/// # Ok(())
/// # }
/// ```
pub struct FloodGuard<R: TenantRegistry> {
    inner: R,
    budget: DefaultDirectRateLimiter,
    known: Mutex<Known>,
    flights: Flights<R::Error>,
}

/// How many keys that found an active tenant a [`FloodGuard`] remembers by default.
pub const DEFAULT_KNOWN_KEYS: usize = 100_000;

/// Why a [`FloodGuard`] could not be built: a zero rate or burst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a budget for misses needs a rate and a burst of at least 1")]
pub struct ZeroBudget;

impl<R: TenantRegistry> FloodGuard<R> {
    /// Guards `inner` with a budget of `per_second` lookups of keys not known to be live, with
    /// bursts of up to `burst`; it remembers [`DEFAULT_KNOWN_KEYS`] live keys. A zero rate or
    /// burst is [`ZeroBudget`].
    pub fn new(inner: R, per_second: u32, burst: u32) -> Result<Self, ZeroBudget> {
        let rate = NonZeroU32::new(per_second).ok_or(ZeroBudget)?;
        let burst = NonZeroU32::new(burst).ok_or(ZeroBudget)?;
        Ok(FloodGuard {
            inner,
            budget: RateLimiter::direct(Quota::per_second(rate).allow_burst(burst)),
            known: Mutex::new(Known {
                keys: HashSet::new(),
                order: VecDeque::new(),
                capacity: DEFAULT_KNOWN_KEYS,
            }),
            flights: Mutex::new(HashMap::new()),
        })
    }

    /// Remembers at most `capacity` keys that found an active tenant (0: none, so every miss
    /// pays).
    ///
    /// ```
    /// # use tenant::registry::{FloodGuard, InMemoryRegistry};
    /// let guard = FloodGuard::new(InMemoryRegistry::default(), 100, 10)?.known_keys(1_000);
    /// # Ok::<(), tenant::registry::ZeroBudget>(())
    /// ```
    pub fn known_keys(self, capacity: usize) -> Self {
        lock(&self.known).capacity = capacity;
        self
    }

    /// Remembers `tenant` as live, by id and by slug, as a lookup that found it would: its
    /// lookups never pay from the budget. For the tenants a service serves, from its registry
    /// at start (`tenant::sqlx::SqlRegistry::active_tenants`): a process that has found nobody
    /// yet would otherwise make each live tenant's first lookup pay, and while unknown ids
    /// spend the budget (a restart in the middle of a flood) those lookups would be refused
    /// with the flood's. An inactive tenant is not remembered.
    ///
    /// ```
    /// use tenant::registry::{FloodGuard, GuardError, InMemoryRegistry};
    /// use tenant::{TenantId, TenantRegistry};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let acme: TenantId = "acme".parse()?;
    /// let registry = InMemoryRegistry::from_ids([acme.clone()])?;
    /// let guard = FloodGuard::new(registry.clone(), 1, 1)?;
    /// guard.remember(&registry.find_by_id(&acme).await?.expect("acme is registered"));
    ///
    /// // An unknown id spends the only token; acme, remembered, does not need one.
    /// assert!(guard.find_by_id(&"nobody".parse()?).await?.is_none());
    /// assert!(matches!(guard.find_by_id(&"nobody-2".parse()?).await, Err(GuardError::OverBudget(_))));
    /// assert!(guard.find_by_id(&acme).await?.is_some());
    /// # Ok(())
    /// # }
    /// ```
    pub fn remember(&self, tenant: &Tenant) {
        if !tenant.is_active {
            return;
        }
        let mut known = lock(&self.known);
        known.remember((By::Id, tenant.id.clone()));
        known.remember((By::Slug, tenant.slug.clone()));
    }

    /// The guarded registry.
    pub fn inner(&self) -> &R {
        &self.inner
    }

    /// One token of the budget for misses, or [`GuardError::OverBudget`].
    fn spend(&self) -> Result<(), GuardError<R::Error>> {
        self.budget.check().map_err(|not_until| {
            // The limiter's own clock: building one (`DefaultClock::default()`) runs CPUID to
            // detect a usable TSC, which a virtual machine traps; that was most of a refusal.
            let retry_after = not_until.wait_time_from(self.budget.clock().now());
            GuardError::OverBudget(OverBudget { retry_after })
        })
    }

    async fn lookup(&self, by: By, key: &TenantId) -> Result<Option<Tenant>, GuardError<R::Error>> {
        let lookup = (by, key.clone());
        let known = lock(&self.known).keys.contains(&lookup);
        // The budget first: in a flood nearly every miss is refused, and a refusal that costs
        // a rate check and nothing else (no flight, no allocation, no future) leaves the cores
        // to live tenants. A miss joining a lookup already in flight pays nothing.
        let paid = !known && !lock(&self.flights).contains_key(&lookup);
        if paid {
            self.spend()?;
        }
        let flight = Arc::clone(lock(&self.flights).entry(lookup.clone()).or_default());
        let answer = flight
            .get_or_init(|| async {
                // The flight joined above ended in between: this one is new, and pays.
                if !known && !paid {
                    self.spend()?;
                }
                let found = match by {
                    By::Id => self.inner.find_by_id(key).await,
                    By::Slug => self.inner.find_by_slug(key).await,
                }
                .map_err(|error| GuardError::Registry(Arc::new(error)))?;
                let mut known = lock(&self.known);
                match &found {
                    Some(tenant) if tenant.is_active => known.remember(lookup.clone()),
                    _ => known.forget(&lookup),
                }
                Ok(found)
            })
            .await
            .clone();
        // The next miss starts a lookup of its own: an answer is shared only by those who asked
        // while it was being fetched, never served later (that is the cache's job).
        let mut flights = lock(&self.flights);
        if flights
            .get(&lookup)
            .is_some_and(|f| Arc::ptr_eq(f, &flight))
        {
            flights.remove(&lookup);
        }
        answer
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<R: TenantRegistry> TenantRegistry for FloodGuard<R> {
    type Error = GuardError<R::Error>;

    async fn find_by_id(&self, id: &TenantId) -> Result<Option<Tenant>, Self::Error> {
        self.lookup(By::Id, id).await
    }

    async fn find_by_slug(&self, slug: &TenantId) -> Result<Option<Tenant>, Self::Error> {
        self.lookup(By::Slug, slug).await
    }
}

impl<R: TenantRegistry + fmt::Debug> fmt::Debug for FloodGuard<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FloodGuard")
            .field("inner", &self.inner)
            .field("known", &lock(&self.known).keys.len())
            .finish_non_exhaustive()
    }
}
