//! Start-time fair queueing over per-tenant queues, weighted by plan.

use std::collections::{HashMap, VecDeque};

use tenant_core::TenantId;

struct Lane<T> {
    weight: f64,
    /// The virtual time at which the lane's first item is due.
    start: f64,
    /// When the tenant became backlogged: ties go to the earlier.
    since: u64,
    waiting: VecDeque<T>,
}

/// Per-tenant FIFO queues served in proportion to their weights (start-time fair queueing):
/// each tenant's next item is due at a virtual time, the item due first is served, and
/// serving it moves its tenant's time on by `1 / weight`. A tenant that becomes backlogged
/// starts at the current virtual time (an idle tenant saves no credit). Over any stretch where
/// tenants stay backlogged, each is served within one item of `weight / Σ weights` of the
/// items, and its items are spread over the stretch, not served in bursts: so a tenant that
/// may hold only a few slots at once ([`pop_where`](Self::pop_where)) still gets its share
/// when each of its requests ends before its next one is due.
pub(crate) struct Sfq<T> {
    lanes: HashMap<TenantId, Lane<T>>,
    /// The virtual time: when the last item served was due.
    now: f64,
    /// Counts the tenants that became backlogged, to break ties in arrival order.
    arrivals: u64,
}

impl<T> Default for Sfq<T> {
    fn default() -> Self {
        Sfq {
            lanes: HashMap::new(),
            now: 0.0,
            arrivals: 0,
        }
    }
}

impl<T> Sfq<T> {
    /// Items waiting for `tenant`.
    pub(crate) fn len_of(&self, tenant: &TenantId) -> usize {
        self.lanes.get(tenant).map_or(0, |lane| lane.waiting.len())
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.lanes.is_empty()
    }

    /// Queues `item` for `tenant`; `weight` must be positive and finite (the plan weights are).
    pub(crate) fn push(&mut self, tenant: &TenantId, weight: f64, item: T) {
        if let Some(lane) = self.lanes.get_mut(tenant) {
            lane.weight = weight;
            lane.waiting.push_back(item);
            return;
        }
        self.arrivals += 1;
        self.lanes.insert(
            tenant.clone(),
            Lane {
                weight,
                start: self.now,
                since: self.arrivals,
                waiting: VecDeque::from([item]),
            },
        );
    }

    /// The next item to serve, with its tenant.
    #[cfg(test)]
    pub(crate) fn pop(&mut self) -> Option<(TenantId, T)> {
        self.pop_where(|_| true)
    }

    /// The next item to serve among the tenants whose first item `eligible` accepts, with its
    /// tenant. `eligible` is asked about tenants' first items in the order they are due until
    /// it accepts one, which is then served (so it may take what serving it needs: a `true` is
    /// always followed by that item's removal). A tenant it refuses keeps its queue, and its
    /// time moves on to the served item's (it saves no credit while it may not be served);
    /// `None` when nobody is eligible.
    pub(crate) fn pop_where(
        &mut self,
        mut eligible: impl FnMut(&T) -> bool,
    ) -> Option<(TenantId, T)> {
        let mut due: Vec<(f64, u64, &TenantId)> = self
            .lanes
            .iter()
            .map(|(tenant, lane)| (lane.start, lane.since, tenant))
            .collect();
        due.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let mut refused = Vec::new();
        let mut chosen = None;
        for (_, _, tenant) in due {
            let lane = &self.lanes[tenant];
            if lane.waiting.front().is_some_and(&mut eligible) {
                chosen = Some(tenant.clone());
                break;
            }
            refused.push(tenant.clone());
        }
        let tenant = chosen?;
        let lane = self.lanes.get_mut(&tenant)?;
        let item = lane.waiting.pop_front()?;
        self.now = lane.start;
        lane.start += 1.0 / lane.weight;
        if lane.waiting.is_empty() {
            self.lanes.remove(&tenant);
        }
        for passed in refused {
            if let Some(lane) = self.lanes.get_mut(&passed) {
                lane.start = lane.start.max(self.now);
            }
        }
        Some((tenant, item))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(name: &str) -> TenantId {
        name.parse().unwrap()
    }

    /// Three backlogged tenants of weights 10, 3 and 1: every window of 14 items served holds
    /// 10, 3 and 1 of them, whatever order the items arrived in.
    #[test]
    fn backlogged_tenants_are_served_by_weight() {
        let (ent, pro, free) = (id("ent"), id("pro"), id("free"));
        let mut queues = Sfq::default();
        // A fixed arrival sequence: the free tenant floods first, the others interleave.
        for n in 0..300 {
            queues.push(&free, 1.0, n);
        }
        for n in 0..150 {
            queues.push(&pro, 3.0, n);
            queues.push(&ent, 10.0, n);
        }
        let mut served = HashMap::<TenantId, usize>::new();
        for _ in 0..140 {
            let (tenant, _) = queues.pop().unwrap();
            *served.entry(tenant).or_default() += 1;
        }
        assert_eq!(served[&ent], 100);
        assert_eq!(served[&pro], 30);
        assert_eq!(served[&free], 10);
    }

    #[test]
    fn each_tenant_is_served_in_arrival_order_and_idle_credit_is_dropped() {
        let (a, b) = (id("a"), id("b"));
        let mut queues = Sfq::default();
        queues.push(&a, 3.0, 1);
        queues.push(&a, 3.0, 2);
        // `a` empties its queue with credit left: it does not carry it.
        assert_eq!(queues.pop(), Some((a.clone(), 1)));
        assert_eq!(queues.pop(), Some((a.clone(), 2)));
        assert_eq!(queues.pop(), None);
        assert!(queues.is_empty());
        queues.push(&b, 1.0, 10);
        queues.push(&a, 3.0, 3);
        queues.push(&a, 3.0, 4);
        queues.push(&b, 1.0, 11);
        let order: Vec<_> = std::iter::from_fn(|| queues.pop()).collect();
        assert_eq!(
            order,
            vec![
                (b.clone(), 10),
                (a.clone(), 3),
                (a.clone(), 4),
                (b.clone(), 11)
            ]
        );
        assert_eq!(queues.len_of(&a), 0);
    }

    /// A tenant that may not be served (at its bound of slots) is passed over without losing
    /// its queue, and served again by weight once it may be; nobody eligible is `None`.
    #[test]
    fn a_tenant_that_may_not_be_served_is_passed_over_and_keeps_its_queue() {
        let (capped, other) = (id("capped"), id("other"));
        let mut queues = Sfq::default();
        for n in 0..4 {
            queues.push(&capped, 10.0, ("capped", n));
            queues.push(&other, 1.0, ("other", n));
        }
        // Only `other` may be served: all of its items, in order, none of `capped`'s.
        let open = |item: &(&str, i32)| item.0 != "capped";
        let served: Vec<_> = std::iter::from_fn(|| queues.pop_where(open)).collect();
        let others: Vec<_> = (0..4).map(|n| (other.clone(), ("other", n))).collect();
        assert_eq!(served, others);
        assert_eq!(queues.pop_where(|_| false), None);
        assert_eq!(queues.len_of(&capped), 4);
        let rest: Vec<_> = std::iter::from_fn(|| queues.pop()).collect();
        let capped: Vec<_> = (0..4).map(|n| (capped.clone(), ("capped", n))).collect();
        assert_eq!(rest, capped);
        assert!(queues.is_empty());
    }

    /// A tenant's items are spread over the stretch it is backlogged, not served in one burst:
    /// of the first 13 items of tenants of weights 10 and 3, the 3 of the second are never two
    /// in a row (a tenant bounded to one slot at a time gets its share if each request ends
    /// within a few of the others').
    #[test]
    fn a_tenants_items_are_spread_out_not_served_in_bursts() {
        let (ent, pro) = (id("ent"), id("pro"));
        let mut queues = Sfq::default();
        for n in 0..20 {
            queues.push(&ent, 10.0, n);
            queues.push(&pro, 3.0, n);
        }
        let first: Vec<bool> = (0..13).map(|_| queues.pop().unwrap().0 == pro).collect();
        assert_eq!(first.iter().filter(|p| **p).count(), 3, "{first:?}");
        assert!(!first.windows(2).any(|w| w[0] && w[1]), "{first:?}");
    }

    /// Fractional weights accumulate over turns instead of starving.
    #[test]
    fn a_weight_below_one_is_served_every_few_turns() {
        let (half, one) = (id("half"), id("one"));
        let mut queues = Sfq::default();
        for n in 0..10 {
            queues.push(&one, 1.0, n);
            queues.push(&half, 0.5, n);
        }
        let first: Vec<_> = (0..9).map(|_| queues.pop().unwrap().0).collect();
        let halves = first.iter().filter(|t| **t == half).count();
        assert_eq!(halves, 3, "{first:?}");
    }
}
