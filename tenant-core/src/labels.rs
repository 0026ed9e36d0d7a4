//! [`TenantLabels`]: the tenant label of per-tenant metrics, with bounded cardinality.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::TenantId;

/// The label of every tenant outside the top N.
pub const OTHER: &str = "other";

/// Names the busiest tenants in metric labels and puts every other tenant under [`OTHER`], so
/// that a metric labelled by tenant has at most `top + 1` series per label set however many
/// tenants there are (a time-series database pays for every distinct label value).
///
/// Each [`label`](Self::label) call counts one unit of the tenant's traffic. Every `refresh`
/// calls the busiest `top` tenants by traffic become the named ones, and every count is halved,
/// so a tenant that stops being busy drops out within a few refreshes. Counts are kept for at
/// most `8 × top` tenants (at least 64): a tenant that is not counted yet, when the table is
/// full, takes the place of the least counted one and starts from its count (the Space-Saving
/// algorithm), so a tenant that becomes busy still rises while memory stays bounded.
///
/// ```
/// use tenant::labels::{TenantLabels, OTHER};
/// use tenant::TenantId;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let labels = TenantLabels::new(2).refresh_every(100);
/// let (acme, globex, initech): (TenantId, TenantId, TenantId) =
///     ("acme".parse()?, "globex".parse()?, "initech".parse()?);
/// for _ in 0..60 {
///     labels.label(&acme);
///     labels.label(&globex);
///     labels.label(&acme);
///     labels.label(&initech);
/// }
/// // acme 120, globex 60 and initech 60 requests: the ranking keeps acme and one of the others.
/// assert_eq!(&*labels.label(&acme), "acme");
/// let named = [&globex, &initech].iter().filter(|t| &*labels.label(t) != OTHER).count();
/// assert_eq!(named, 1);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct TenantLabels {
    top: usize,
    capacity: usize,
    refresh_every: u64,
    other: Arc<str>,
    /// Bumped by every ranking: a caller that keeps a label may keep it while this is unchanged.
    generation: AtomicU64,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    counts: HashMap<TenantId, u64>,
    named: HashMap<TenantId, Arc<str>>,
    since_refresh: u64,
}

impl TenantLabels {
    /// Names at most `top` tenants; refreshes the ranking every 1,024 calls.
    pub fn new(top: usize) -> Self {
        TenantLabels {
            top,
            capacity: top.saturating_mul(8).max(64),
            refresh_every: 1024,
            other: Arc::from(OTHER),
            generation: AtomicU64::new(0),
            state: Mutex::new(State::default()),
        }
    }

    /// Refreshes the ranking every `calls` calls of [`label`](Self::label) (at least 1).
    pub fn refresh_every(mut self, calls: u64) -> Self {
        self.refresh_every = calls.max(1);
        self
    }

    /// The most tenants named; every label is one of them or [`OTHER`].
    pub fn top(&self) -> usize {
        self.top
    }

    /// Counts one unit of `tenant`'s traffic and returns its label: its id if it is among the
    /// busiest at the last refresh, else [`OTHER`].
    pub fn label(&self, tenant: &TenantId) -> Arc<str> {
        self.label_n(tenant, 1)
    }

    /// [`label`](Self::label) for `units` units of traffic at once (each one counts towards
    /// the next refresh too): for a caller that counts its requests itself and reports them
    /// in batches, so that the busiest path takes this lock once per batch, not per request.
    ///
    /// ```
    /// use tenant::labels::TenantLabels;
    ///
    /// let labels = TenantLabels::new(1).refresh_every(10);
    /// let acme: tenant::TenantId = "acme".parse().unwrap();
    /// assert_eq!(&*labels.label_n(&acme, 10), "acme"); // ten units: a refresh, acme ranked
    /// ```
    pub fn label_n(&self, tenant: &TenantId, units: u64) -> Arc<str> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        self.tally(&mut state, tenant, units);
        state.since_refresh = state.since_refresh.saturating_add(units);
        if state.since_refresh >= self.refresh_every {
            state.since_refresh = 0;
            self.rank(&mut state);
        }
        match state.named.get(tenant) {
            Some(name) => Arc::clone(name),
            None => Arc::clone(&self.other),
        }
    }

    /// A number that changes whenever the ranking may have changed any tenant's label: a label
    /// kept from [`label`](Self::label) or [`current`](Self::current) is still right while
    /// this is what it was then (one atomic load, no lock).
    ///
    /// ```
    /// use tenant::labels::TenantLabels;
    ///
    /// let labels = TenantLabels::new(1).refresh_every(2);
    /// let acme: tenant::TenantId = "acme".parse().unwrap();
    /// let before = labels.generation();
    /// labels.label(&acme);
    /// assert_eq!(labels.generation(), before);
    /// labels.label(&acme); // the second call refreshes the ranking
    /// assert_ne!(labels.generation(), before);
    /// ```
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The label `tenant` has now, without counting traffic: for metrics recorded after the
    /// request was counted (its database time, say).
    pub fn current(&self, tenant: &TenantId) -> Arc<str> {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        match state.named.get(tenant) {
            Some(name) => Arc::clone(name),
            None => Arc::clone(&self.other),
        }
    }

    fn tally(&self, state: &mut State, tenant: &TenantId, units: u64) {
        if let Some(count) = state.counts.get_mut(tenant) {
            *count = count.saturating_add(units);
            return;
        }
        let mut start = 0;
        if state.counts.len() >= self.capacity {
            // Space-Saving: the newcomer inherits the least count, an upper bound of its own.
            if let Some((least, count)) = state
                .counts
                .iter()
                .min_by_key(|(_, count)| **count)
                .map(|(id, count)| (id.clone(), *count))
            {
                state.counts.remove(&least);
                start = count;
            }
        }
        state
            .counts
            .insert(tenant.clone(), start.saturating_add(units));
    }

    fn rank(&self, state: &mut State) {
        let mut ranked: Vec<(&TenantId, u64)> = state
            .counts
            .iter()
            .map(|(id, count)| (id, *count))
            .collect();
        // Ties broken by id, so that the ranking does not depend on the hash map's order.
        ranked.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        let mut named = HashMap::with_capacity(self.top);
        for (id, _) in ranked.into_iter().take(self.top) {
            let name = state
                .named
                .get(id)
                .cloned()
                .unwrap_or_else(|| Arc::from(id.as_str()));
            named.insert(id.clone(), name);
        }
        state.named = named;
        // After the new names are in place (under the lock): whoever sees the new generation
        // and asks again gets them.
        self.generation.fetch_add(1, Ordering::AcqRel);
        state.counts.retain(|_, count| {
            *count /= 2;
            *count > 0
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 10,000 distinct tenants, a few of them busy: at most `top + 1` distinct labels, the busy
    /// ones by name, and the counting table never above its capacity.
    #[test]
    fn labels_stay_bounded_under_many_tenants() {
        let labels = TenantLabels::new(3).refresh_every(500);
        let busy: Vec<TenantId> = ["alpha", "beta", "gamma"]
            .map(|t| t.parse().unwrap())
            .into();
        let mut seen = std::collections::HashSet::new();
        for n in 0..10_000 {
            let rare: TenantId = format!("t{n}").parse().unwrap();
            seen.insert(labels.label(&rare).to_string());
            for tenant in &busy {
                seen.insert(labels.label(tenant).to_string());
            }
            let state = labels.state.lock().unwrap();
            assert!(state.counts.len() <= labels.capacity);
        }
        assert!(seen.len() <= 4, "{seen:?}");
        for tenant in &busy {
            assert_eq!(&*labels.current(tenant), tenant.as_str());
        }
        assert_eq!(&*labels.current(&"t9999".parse().unwrap()), OTHER);
    }

    #[test]
    fn a_tenant_that_becomes_busy_is_named_and_one_that_stops_drops_out() {
        let labels = TenantLabels::new(1).refresh_every(100);
        let (old, new): (TenantId, TenantId) = ("old".parse().unwrap(), "new".parse().unwrap());
        for _ in 0..300 {
            labels.label(&old);
        }
        assert_eq!(&*labels.current(&old), "old");
        for _ in 0..600 {
            labels.label(&new);
        }
        assert_eq!(&*labels.current(&new), "new");
        assert_eq!(&*labels.current(&old), OTHER);
    }
}
