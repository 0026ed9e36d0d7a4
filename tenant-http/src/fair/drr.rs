//! Deficit round robin over per-tenant queues, weighted by plan.

use std::collections::{HashMap, VecDeque};

use tenant_core::TenantId;

struct Lane<T> {
    weight: f64,
    deficit: f64,
    waiting: VecDeque<T>,
    /// The [`Drr::pop_where`] call that last passed this lane over as not eligible.
    passed: u64,
}

/// Per-tenant FIFO queues served in proportion to their weights: a tenant whose turn comes gets
/// `weight` credits, each item served costs one, and its turn ends when its credit is below one
/// (the rest is kept for its next turn) or its queue is empty (the rest is dropped, so an idle
/// tenant saves no credit). Over any stretch where tenants stay backlogged, each is served
/// within one item of `weight / Σ weights` of the items. A tenant that may not be served now
/// ([`pop_where`](Self::pop_where)) has its turn passed over, as an idle one's.
pub(crate) struct Drr<T> {
    lanes: HashMap<TenantId, Lane<T>>,
    /// Backlogged tenants in turn order; the front one is being served.
    active: VecDeque<TenantId>,
    /// Counts `pop_where` calls, to tell the lanes one call passed over.
    pops: u64,
}

impl<T> Default for Drr<T> {
    fn default() -> Self {
        Drr {
            lanes: HashMap::new(),
            active: VecDeque::new(),
            pops: 0,
        }
    }
}

impl<T> Drr<T> {
    /// Items waiting for `tenant`.
    pub(crate) fn len_of(&self, tenant: &TenantId) -> usize {
        self.lanes.get(tenant).map_or(0, |lane| lane.waiting.len())
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.active.is_empty()
    }

    /// Queues `item` for `tenant`; `weight` must be positive and finite (the plan weights are).
    pub(crate) fn push(&mut self, tenant: &TenantId, weight: f64, item: T) {
        if let Some(lane) = self.lanes.get_mut(tenant) {
            lane.weight = weight;
            lane.waiting.push_back(item);
            return;
        }
        // The first backlogged tenant starts its turn at once; later ones wait for theirs.
        let deficit = if self.active.is_empty() { weight } else { 0.0 };
        self.lanes.insert(
            tenant.clone(),
            Lane {
                weight,
                deficit,
                waiting: VecDeque::from([item]),
                passed: 0,
            },
        );
        self.active.push_back(tenant.clone());
    }

    /// The next item to serve, with its tenant.
    #[cfg(test)]
    pub(crate) fn pop(&mut self) -> Option<(TenantId, T)> {
        self.pop_where(|_| true)
    }

    /// The next item to serve among the tenants whose first item `eligible` accepts, with its
    /// tenant. `eligible` is asked only about the item about to be served (so it may take
    /// what serving it needs: a `true` is always followed by that item's removal). A tenant it
    /// refuses loses its turn and its credit, as an idle one does, and keeps its queue; `None`
    /// when nobody is eligible.
    pub(crate) fn pop_where(
        &mut self,
        mut eligible: impl FnMut(&T) -> bool,
    ) -> Option<(TenantId, T)> {
        self.pops += 1;
        let mut passed = 0;
        loop {
            if passed >= self.active.len() {
                return None;
            }
            let tenant = self.active.front()?.clone();
            let Some(lane) = self.lanes.get_mut(&tenant) else {
                self.active.pop_front();
                continue;
            };
            if lane.deficit >= 1.0 {
                if !lane.waiting.front().is_some_and(&mut eligible) {
                    if lane.passed != self.pops {
                        lane.passed = self.pops;
                        passed += 1;
                    }
                    lane.deficit = 0.0;
                    self.next_turn();
                    continue;
                }
                let item = lane.waiting.pop_front();
                lane.deficit -= 1.0;
                if lane.waiting.is_empty() {
                    self.lanes.remove(&tenant);
                    self.active.pop_front();
                    if let Some(next) = self.active.front().and_then(|t| self.lanes.get_mut(t)) {
                        next.deficit += next.weight;
                    }
                }
                match item {
                    Some(item) => return Some((tenant, item)),
                    None => continue,
                }
            }
            self.next_turn();
        }
    }

    /// Turn over: the front tenant to the back, and the next tenant's turn begins.
    fn next_turn(&mut self) {
        self.active.rotate_left(1);
        if let Some(next) = self.active.front().and_then(|t| self.lanes.get_mut(t)) {
            next.deficit += next.weight;
        }
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
        let mut drr = Drr::default();
        // A fixed arrival sequence: the free tenant floods first, the others interleave.
        for n in 0..300 {
            drr.push(&free, 1.0, n);
        }
        for n in 0..150 {
            drr.push(&pro, 3.0, n);
            drr.push(&ent, 10.0, n);
        }
        let mut served = HashMap::<TenantId, usize>::new();
        for _ in 0..140 {
            let (tenant, _) = drr.pop().unwrap();
            *served.entry(tenant).or_default() += 1;
        }
        assert_eq!(served[&ent], 100);
        assert_eq!(served[&pro], 30);
        assert_eq!(served[&free], 10);
    }

    #[test]
    fn each_tenant_is_served_in_arrival_order_and_idle_credit_is_dropped() {
        let (a, b) = (id("a"), id("b"));
        let mut drr = Drr::default();
        drr.push(&a, 3.0, 1);
        drr.push(&a, 3.0, 2);
        // `a` empties its queue with credit left: it does not carry it.
        assert_eq!(drr.pop(), Some((a.clone(), 1)));
        assert_eq!(drr.pop(), Some((a.clone(), 2)));
        assert_eq!(drr.pop(), None);
        assert!(drr.is_empty());
        drr.push(&b, 1.0, 10);
        drr.push(&a, 3.0, 3);
        drr.push(&a, 3.0, 4);
        drr.push(&b, 1.0, 11);
        let order: Vec<_> = std::iter::from_fn(|| drr.pop()).collect();
        assert_eq!(
            order,
            vec![
                (b.clone(), 10),
                (a.clone(), 3),
                (a.clone(), 4),
                (b.clone(), 11)
            ]
        );
        assert_eq!(drr.len_of(&a), 0);
    }

    /// A tenant that may not be served (at its bound of slots) is passed over without losing
    /// its queue, and served again by weight once it may be; nobody eligible is `None`.
    #[test]
    fn a_tenant_that_may_not_be_served_is_passed_over_and_keeps_its_queue() {
        let (capped, other) = (id("capped"), id("other"));
        let mut drr = Drr::default();
        for n in 0..4 {
            drr.push(&capped, 10.0, ("capped", n));
            drr.push(&other, 1.0, ("other", n));
        }
        // Only `other` may be served: all of its items, in order, none of `capped`'s.
        let open = |item: &(&str, i32)| item.0 != "capped";
        let served: Vec<_> = std::iter::from_fn(|| drr.pop_where(open)).collect();
        let others: Vec<_> = (0..4).map(|n| (other.clone(), ("other", n))).collect();
        assert_eq!(served, others);
        assert_eq!(drr.pop_where(|_| false), None);
        assert_eq!(drr.len_of(&capped), 4);
        let rest: Vec<_> = std::iter::from_fn(|| drr.pop()).collect();
        let capped: Vec<_> = (0..4).map(|n| (capped.clone(), ("capped", n))).collect();
        assert_eq!(rest, capped);
        assert!(drr.is_empty());
    }

    /// Fractional weights accumulate over turns instead of starving.
    #[test]
    fn a_weight_below_one_is_served_every_few_turns() {
        let (half, one) = (id("half"), id("one"));
        let mut drr = Drr::default();
        for n in 0..10 {
            drr.push(&one, 1.0, n);
            drr.push(&half, 0.5, n);
        }
        let first: Vec<_> = (0..9).map(|_| drr.pop().unwrap().0).collect();
        let halves = first.iter().filter(|t| **t == half).count();
        assert_eq!(halves, 3, "{first:?}");
    }
}
