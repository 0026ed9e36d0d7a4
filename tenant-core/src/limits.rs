//! [`Limits`]: one tenant's limits at the boundary, and what a configuration of them can get wrong.

use std::num::NonZeroU32;

use governor::Quota;

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
///
/// A rate and a burst of `u32::MAX` each ([`Limits::without_rate`]) are no rate limit: no
/// sequence of requests could reach them, so the layer does not check them at all (no clock
/// read, no limiter state per request).
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

    /// A queue bound and no rate limit: a rate and a burst of `u32::MAX`.
    ///
    /// ```
    /// use tenant::http::Limits;
    ///
    /// let queue_only = Limits::without_rate(16);
    /// assert!(!queue_only.is_rate_limited());
    /// assert!(Limits::new(50, 100, 16)?.is_rate_limited());
    /// # Ok::<(), tenant::http::FairConfigError>(())
    /// ```
    pub fn without_rate(queue: usize) -> Self {
        Limits {
            per_second: NonZeroU32::MAX,
            burst: NonZeroU32::MAX,
            queue,
        }
    }

    /// Whether these limits hold a rate limit: not when the rate and the burst are both
    /// `u32::MAX` ([`Limits::without_rate`]).
    pub fn is_rate_limited(&self) -> bool {
        self.per_second != NonZeroU32::MAX || self.burst != NonZeroU32::MAX
    }

    pub(super) fn quota(&self) -> Quota {
        Quota::per_second(self.per_second).allow_burst(self.burst)
    }
}

/// A [`FairLayer`](crate::FairLayer) configuration that cannot work.
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
