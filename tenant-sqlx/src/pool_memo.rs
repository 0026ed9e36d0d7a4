//! [`PoolMemo`]: what a pool's database answered once, kept for the pool so that no later
//! transaction pays a round trip to ask again.

use std::sync::Arc;

use arc_swap::ArcSwap;
use sqlx::PgPool;
use sqlx::postgres::PgConnectOptions;

/// How many pools a memo keeps; the oldest is forgotten first (its next transaction asks again).
const POOLS: usize = 32;

/// One answer per pool, read without a lock on every transaction, replaced (copied) when a pool
/// is remembered or forgotten.
///
/// A pool is known by its connect options: `Pool::connect_options` hands out the same `Arc`
/// until `set_connect_options` replaces it, and holding it keeps its address from being reused
/// by another pool's.
pub(crate) struct PoolMemo<T> {
    pools: ArcSwap<Vec<(Arc<PgConnectOptions>, T)>>,
}

impl<T: Clone> PoolMemo<T> {
    pub(crate) fn new() -> Self {
        PoolMemo {
            pools: ArcSwap::from_pointee(Vec::new()),
        }
    }

    /// `f` of what `pool` answered, if it is remembered.
    pub(crate) fn with<R>(&self, pool: &PgPool, f: impl FnOnce(&T) -> R) -> Option<R> {
        let options = pool.connect_options();
        self.pools
            .load()
            .iter()
            .find(|(known, _)| Arc::ptr_eq(known, &options))
            .map(|(_, value)| f(value))
    }

    /// Remembers `value` for `pool` (replacing an earlier answer; the oldest pool forgotten
    /// beyond [`POOLS`]).
    pub(crate) fn remember(&self, pool: &PgPool, value: T) {
        let options = pool.connect_options();
        self.pools.rcu(|pools| {
            let mut pools: Vec<_> = pools
                .iter()
                .filter(|(known, _)| !Arc::ptr_eq(known, &options))
                .cloned()
                .collect();
            if pools.len() >= POOLS {
                pools.remove(0);
            }
            pools.push((Arc::clone(&options), value.clone()));
            pools
        });
    }

    /// Forgets `pool`'s answer.
    pub(crate) fn forget(&self, pool: &PgPool) {
        let options = pool.connect_options();
        self.pools.rcu(|pools| {
            pools
                .iter()
                .filter(|(known, _)| !Arc::ptr_eq(known, &options))
                .cloned()
                .collect::<Vec<_>>()
        });
    }
}
