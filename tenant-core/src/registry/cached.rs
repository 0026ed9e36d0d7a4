//! [`CachedRegistry`]: a bounded, time-limited cache in front of any registry.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::{Tenant, TenantRegistry};
use crate::TenantId;

/// Which lookup an entry answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum By {
    Id,
    Slug,
}

struct Entry {
    /// `None` caches "no such tenant".
    tenant: Option<Tenant>,
    stored: Instant,
    /// Position in [`State::order`].
    seq: u64,
}

/// One kind of entry: found tenants, or "no such tenant". Each has its own capacity and TTL, so
/// a flood of unknown ids evicts only other unknown ids, never a live tenant.
#[derive(Default)]
struct Tier {
    /// Keyed by attacker-chosen ids, so hashed with the default (randomly keyed) hasher.
    entries: HashMap<(By, TenantId), Entry>,
    /// Every entry's key by insertion sequence, oldest first. The TTL is the same for every
    /// entry of a tier, so this is also expiry order: the expired entries are always a prefix.
    order: BTreeMap<u64, (By, TenantId)>,
    next_seq: u64,
}

impl Tier {
    fn remove_entries(&mut self, mut doomed: impl FnMut(&(By, TenantId), &Entry) -> bool) {
        let order = &mut self.order;
        self.entries.retain(|key, entry| {
            let remove = doomed(key, entry);
            if remove {
                order.remove(&entry.seq);
            }
            !remove
        });
    }

    /// Drops the oldest entry. Returns `false` if there is none.
    fn pop_oldest(&mut self) -> bool {
        match self.order.pop_first() {
            Some((_, key)) => {
                self.entries.remove(&key);
                true
            }
            None => false,
        }
    }

    fn oldest_is_expired(&self, now: Instant, ttl: Duration) -> bool {
        self.order
            .first_key_value()
            .and_then(|(_, key)| self.entries.get(key))
            .is_some_and(|entry| now.saturating_duration_since(entry.stored) >= ttl)
    }

    fn remove(&mut self, lookup: &(By, TenantId)) {
        if let Some(previous) = self.entries.remove(lookup) {
            self.order.remove(&previous.seq);
        }
    }

    fn insert(
        &mut self,
        lookup: (By, TenantId),
        tenant: Option<Tenant>,
        now: Instant,
        limits: Limits,
    ) {
        while self.oldest_is_expired(now, limits.ttl) && self.pop_oldest() {}
        while self.entries.len() >= limits.capacity && self.pop_oldest() {}
        let seq = self.next_seq;
        self.next_seq += 1;
        self.order.insert(seq, lookup.clone());
        self.entries.insert(
            lookup,
            Entry {
                tenant,
                stored: now,
                seq,
            },
        );
    }

    fn clear(&mut self) {
        self.entries.clear();
        self.order.clear();
    }
}

#[derive(Default)]
struct State {
    found: Tier,
    missing: Tier,
    /// Bumped by every invalidation, so that a lookup that started before one does not store
    /// what it read from the inner registry after it.
    generation: u64,
    /// Counted under the lock every lookup takes anyway, so they cost no atomic of their own.
    stats: CacheStats,
}

/// What a [`CachedRegistry`] has answered since it was built, from [`CachedRegistry::stats`]:
/// lookups answered from the cache and lookups passed to the inner registry, each split by
/// whether a tenant was found. A lookup the inner registry failed is not counted.
///
/// Found tenants and "no such tenant" answers are counted apart, so the hit rate of live
/// tenants ([`hit_rate`](Self::hit_rate)) stays readable while unknown ids flood the cache.
///
/// ```
/// use std::time::Duration;
/// use tenant::registry::{CacheStats, CachedRegistry, InMemoryRegistry};
/// use tenant::{TenantId, TenantRegistry};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let inner = InMemoryRegistry::from_ids(["acme".parse::<TenantId>()?])?;
/// let registry = CachedRegistry::new(inner, Duration::from_secs(30), 10_000);
/// let acme: TenantId = "acme".parse()?;
/// for _ in 0..4 {
///     registry.find_by_id(&acme).await?; // the first asks the inner registry
/// }
/// for _ in 0..2 {
///     registry.find_by_id(&"nobody".parse()?).await?; // not found, then a negative hit
/// }
/// let stats: CacheStats = registry.stats();
/// assert_eq!((stats.hits, stats.misses), (3, 1));
/// assert_eq!((stats.negative_hits, stats.negative_misses), (1, 1));
/// assert_eq!(stats.hit_rate(), Some(0.75));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheStats {
    /// Lookups answered from the cache with a tenant.
    pub hits: u64,
    /// Lookups answered from the cache with "no such tenant".
    pub negative_hits: u64,
    /// Lookups the inner registry answered with a tenant.
    pub misses: u64,
    /// Lookups the inner registry answered with "no such tenant".
    pub negative_misses: u64,
}

impl CacheStats {
    /// The share of lookups of existing tenants answered from the cache: `hits / (hits +
    /// misses)`, or `None` before the first one.
    pub fn hit_rate(&self) -> Option<f64> {
        let lookups = self.hits + self.misses;
        (lookups > 0).then(|| self.hits as f64 / lookups as f64)
    }
}

/// How long entries of a tier are served, and how many it holds.
#[derive(Debug, Clone, Copy)]
struct Limits {
    ttl: Duration,
    capacity: usize,
}

impl Limits {
    fn caches(self) -> bool {
        self.capacity > 0 && !self.ttl.is_zero()
    }
}

/// The longest a "no such tenant" answer is served by default: a tenant created meanwhile is
/// found again within this time, even without [`CachedRegistry::invalidate_slug`].
pub const DEFAULT_NOT_FOUND_TTL: Duration = Duration::from_secs(5);

/// A cache in front of any [`TenantRegistry`], for lookups on the request path.
///
/// Both lookups are cached under their own key for the time-to-live given at construction,
/// found or not: a flood of requests for an unknown tenant reaches the inner registry once per
/// TTL, not once per request. The cache holds at most `capacity` entries (an id lookup and a
/// slug lookup are one entry each); when it is full, expired entries go first, then the oldest.
/// A flood of distinct unknown ids therefore costs bounded memory, and each miss costs
/// *O*(log `capacity`).
///
/// Errors of the inner registry are passed through and never cached. Entries are not refreshed
/// by hits: a change to the inner registry shows at most one TTL later, or at once after
/// [`invalidate`](Self::invalidate), [`invalidate_slug`](Self::invalidate_slug) or
/// [`clear`](Self::clear). Concurrent misses on the same key each ask the inner registry.
///
/// ```
/// use std::time::Duration;
/// use tenant::registry::{CachedRegistry, InMemoryRegistry};
/// use tenant::{TenantId, TenantRegistry};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let inner = InMemoryRegistry::from_ids(["acme".parse::<TenantId>()?])?;
/// let registry = CachedRegistry::new(inner, Duration::from_secs(30), 10_000);
///
/// let acme: TenantId = "acme".parse()?;
/// assert!(registry.find_by_id(&acme).await?.is_some()); // asks the inner registry
/// assert!(registry.find_by_id(&acme).await?.is_some()); // answered from the cache
/// assert!(registry.find_by_slug(&"nobody".parse()?).await?.is_none()); // cached too
/// assert_eq!(registry.len(), 2);
/// # Ok(())
/// # }
/// ```
pub struct CachedRegistry<R> {
    inner: R,
    found: Limits,
    missing: Limits,
    state: Mutex<State>,
}

impl<R> CachedRegistry<R> {
    /// Caches the tenants `inner` finds for `ttl`, holding at most `capacity` of them. "No such
    /// tenant" answers are kept apart, at most `capacity` of them too, for the shorter of `ttl`
    /// and [`DEFAULT_NOT_FOUND_TTL`] (see [`not_found`](Self::not_found)). A zero `ttl` or
    /// `capacity` caches nothing.
    pub fn new(inner: R, ttl: Duration, capacity: usize) -> Self {
        CachedRegistry {
            inner,
            found: Limits { ttl, capacity },
            missing: Limits {
                ttl: ttl.min(DEFAULT_NOT_FOUND_TTL),
                capacity,
            },
            state: Mutex::new(State::default()),
        }
    }

    /// Serves "no such tenant" answers for `ttl`, holding at most `capacity` of them, apart from
    /// the found tenants: however many unknown ids arrive, they evict only each other.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tenant::registry::{CachedRegistry, InMemoryRegistry};
    /// use tenant::{TenantId, TenantRegistry};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let inner = InMemoryRegistry::from_ids(["acme".parse::<TenantId>()?])?;
    /// let registry = CachedRegistry::new(inner, Duration::from_secs(60), 100)
    ///     .not_found(Duration::from_secs(1), 10);
    /// let acme: TenantId = "acme".parse()?;
    /// registry.find_by_id(&acme).await?;
    /// for n in 0..1_000 {
    ///     registry.find_by_id(&format!("unknown-{n}").parse()?).await?;
    /// }
    /// assert!(registry.is_cached_by_id(&acme)); // the flood evicted only unknown ids
    /// assert_eq!(registry.len(), 1 + 10);
    /// # Ok(())
    /// # }
    /// ```
    pub fn not_found(mut self, ttl: Duration, capacity: usize) -> Self {
        self.missing = Limits { ttl, capacity };
        self
    }

    /// The registry behind the cache: write through it, then [`invalidate`](Self::invalidate).
    pub fn inner(&self) -> &R {
        &self.inner
    }

    /// How long a found tenant is served.
    pub fn ttl(&self) -> Duration {
        self.found.ttl
    }

    /// How long a "no such tenant" answer is served.
    pub fn not_found_ttl(&self) -> Duration {
        self.missing.ttl
    }

    /// The most found tenants the cache holds (and, apart, the most "no such tenant" answers
    /// unless [`not_found`](Self::not_found) said otherwise).
    pub fn capacity(&self) -> usize {
        self.found.capacity
    }

    /// How many entries the cache holds, found and not found, expired ones included until
    /// they are evicted.
    pub fn len(&self) -> usize {
        let state = self.lock();
        state.found.entries.len() + state.missing.entries.len()
    }

    /// What the cache has answered so far: see [`CacheStats`], which has an example. The
    /// counters are not reset by [`clear`](Self::clear).
    pub fn stats(&self) -> CacheStats {
        self.lock().stats
    }

    /// Whether the cache holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether a found tenant with this id is cached (fresh or not yet evicted).
    pub fn is_cached_by_id(&self, id: &TenantId) -> bool {
        self.lock()
            .found
            .entries
            .contains_key(&(By::Id, id.clone()))
    }

    /// Forgets what the cache knows about the tenant with `id`: the result of looking up `id`
    /// (found or not), and every slug lookup that found this tenant. Call it after changing the
    /// tenant in the inner registry (deactivating it, changing its plan or slug).
    ///
    /// A lookup already running when this is called does not store its result.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tenant::registry::CachedRegistry;
    /// use tenant::sqlx::{NewTenant, SqlRegistry};
    /// use tenant::{Plan, TenantRegistry};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let sql = SqlRegistry::new(sqlx::SqlitePool::connect("sqlite::memory:").await?);
    /// sql.migrate().await?;
    /// let registry = CachedRegistry::new(sql, Duration::from_secs(60), 1_000);
    /// let acme = registry.inner().create(NewTenant {
    ///     id: "acme".parse()?,
    ///     slug: "acme-corp".parse()?,
    ///     name: "Acme".into(),
    ///     plan: Plan::Pro,
    ///     schema_name: "tenant_acme".parse()?,
    /// }).await?;
    /// assert!(registry.find_by_slug(&acme.slug).await?.unwrap().is_active);
    ///
    /// registry.inner().deactivate(&acme.id).await?;
    /// assert!(registry.find_by_slug(&acme.slug).await?.unwrap().is_active); // still cached
    /// registry.invalidate(&acme.id);
    /// assert!(!registry.find_by_slug(&acme.slug).await?.unwrap().is_active);
    /// # Ok(())
    /// # }
    /// ```
    pub fn invalidate(&self, id: &TenantId) {
        let mut state = self.lock();
        state.generation += 1;
        let doomed = |(by, key): &(By, TenantId), entry: &Entry| {
            (*by == By::Id && key == id) || entry.tenant.as_ref().is_some_and(|t| &t.id == id)
        };
        state.found.remove_entries(doomed);
        state.missing.remove_entries(doomed);
    }

    /// Forgets what the cache knows about `slug`: the result of looking it up (found or not),
    /// and every id lookup that found a tenant with this slug. Call it after creating a tenant,
    /// so that a cached "not found" for its slug does not outlive its creation (and
    /// [`invalidate`](Self::invalidate) for its id).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tenant::registry::CachedRegistry;
    /// use tenant::sqlx::{NewTenant, SqlRegistry};
    /// # use tenant::{Plan, TenantRegistry};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let sql = SqlRegistry::new(sqlx::SqlitePool::connect("sqlite::memory:").await?);
    /// # sql.migrate().await?;
    /// let registry = CachedRegistry::new(sql, Duration::from_secs(60), 1_000);
    /// let slug = "globex".parse()?;
    /// assert!(registry.find_by_slug(&slug).await?.is_none()); // cached: not found
    ///
    /// let globex = registry.inner().create(NewTenant { id: "g-1".parse()?, slug: slug.clone(),
    ///     name: "Globex".into(), plan: Plan::Free, schema_name: "tenant_g_1".parse()? }).await?;
    /// registry.invalidate_slug(&globex.slug);
    /// registry.invalidate(&globex.id);
    /// assert_eq!(registry.find_by_slug(&slug).await?, Some(globex));
    /// # Ok(())
    /// # }
    /// ```
    pub fn invalidate_slug(&self, slug: &TenantId) {
        let mut state = self.lock();
        state.generation += 1;
        let doomed = |(by, key): &(By, TenantId), entry: &Entry| {
            (*by == By::Slug && key == slug)
                || entry.tenant.as_ref().is_some_and(|t| &t.slug == slug)
        };
        state.found.remove_entries(doomed);
        state.missing.remove_entries(doomed);
    }

    /// Forgets everything.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tenant::registry::{CachedRegistry, InMemoryRegistry};
    /// # use tenant::TenantRegistry;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let registry = CachedRegistry::new(InMemoryRegistry::default(), Duration::from_secs(5), 99);
    /// registry.find_by_id(&"acme".parse()?).await?;
    /// assert_eq!(registry.len(), 1);
    /// registry.clear();
    /// assert!(registry.is_empty());
    /// # Ok(())
    /// # }
    /// ```
    pub fn clear(&self) {
        let mut state = self.lock();
        state.generation += 1;
        state.found.clear();
        state.missing.clear();
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The cached answer for `key`, if there is a fresh one; else the generation to store the
    /// inner registry's answer under.
    fn cached(&self, by: By, key: &TenantId) -> Result<Option<Tenant>, u64> {
        let mut guard = self.lock();
        let state = &mut *guard;
        let now = Instant::now();
        let lookup = (by, key.clone());
        for (tier, limits) in [
            (&mut state.found, self.found),
            (&mut state.missing, self.missing),
        ] {
            match tier.entries.get(&lookup) {
                Some(entry) if now.saturating_duration_since(entry.stored) < limits.ttl => {
                    match entry.tenant {
                        Some(_) => state.stats.hits += 1,
                        None => state.stats.negative_hits += 1,
                    }
                    return Ok(entry.tenant.clone());
                }
                Some(_) => tier.remove(&lookup),
                None => {}
            }
        }
        Err(state.generation)
    }

    fn store(&self, by: By, key: &TenantId, tenant: Option<Tenant>, generation: u64) {
        let mut state = self.lock();
        match tenant {
            Some(_) => state.stats.misses += 1,
            None => state.stats.negative_misses += 1,
        }
        if state.generation != generation {
            return;
        }
        let now = Instant::now();
        let lookup = (by, key.clone());
        state.found.remove(&lookup);
        state.missing.remove(&lookup);
        match tenant {
            Some(_) if self.found.caches() => state.found.insert(lookup, tenant, now, self.found),
            None if self.missing.caches() => {
                state.missing.insert(lookup, None, now, self.missing);
            }
            _ => {}
        }
    }
}

impl<R: TenantRegistry> CachedRegistry<R> {
    async fn lookup(&self, by: By, key: &TenantId) -> Result<Option<Tenant>, R::Error> {
        let generation = match self.cached(by, key) {
            Ok(hit) => return Ok(hit),
            Err(generation) => generation,
        };
        let found = match by {
            By::Id => self.inner.find_by_id(key).await?,
            By::Slug => self.inner.find_by_slug(key).await?,
        };
        self.store(by, key, found.clone(), generation);
        Ok(found)
    }
}

impl<R: TenantRegistry> TenantRegistry for CachedRegistry<R> {
    type Error = R::Error;

    async fn find_by_id(&self, id: &TenantId) -> Result<Option<Tenant>, R::Error> {
        self.lookup(By::Id, id).await
    }

    async fn find_by_slug(&self, slug: &TenantId) -> Result<Option<Tenant>, R::Error> {
        self.lookup(By::Slug, slug).await
    }
}

impl<R: fmt::Debug> fmt::Debug for CachedRegistry<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedRegistry")
            .field("inner", &self.inner)
            .field("found", &self.found)
            .field("not_found", &self.missing)
            .field("len", &self.len())
            .finish()
    }
}
