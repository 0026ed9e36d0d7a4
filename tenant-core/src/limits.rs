//! [`Limits`]: one tenant's limits at the request boundary (enforced by `tenant-http`'s
//! `FairLayer`), their written form, and what a configuration of them can get wrong.
//!
//! Here, in the core, so that a registry record can carry a tenant's own limits
//! ([`Tenant::limits`](crate::Tenant::limits)) and a verified context can hand them to the
//! layer ([`TenantCtx::limits`](crate::TenantCtx::limits)).

use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;

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
    /// use tenant::limits::Limits;
    ///
    /// let free = Limits::new(50, 100, 16)?;
    /// assert_eq!(free.per_second.get(), 50);
    /// assert!(Limits::new(0, 1, 1).is_err());
    /// # Ok::<(), tenant::limits::FairConfigError>(())
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
    /// use tenant::limits::Limits;
    ///
    /// let queue_only = Limits::without_rate(16);
    /// assert!(!queue_only.is_rate_limited());
    /// assert!(Limits::new(50, 100, 16)?.is_rate_limited());
    /// # Ok::<(), tenant::limits::FairConfigError>(())
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
}

/// The written form, as the registry stores a tenant's own limits and as configuration reads
/// them: `per_second=N,burst=N,queue=N`, or `queue=N` alone for no rate limit
/// ([`Limits::without_rate`]). [`FromStr`] reads it back (spaces around the parts allowed, each
/// key once, in any order).
///
/// ```
/// use tenant::limits::Limits;
///
/// let pro = Limits::new(500, 1_000, 32)?;
/// assert_eq!(pro.to_string(), "per_second=500,burst=1000,queue=32");
/// assert_eq!(pro.to_string().parse::<Limits>()?, pro);
/// assert_eq!(Limits::without_rate(8).to_string(), "queue=8");
/// assert_eq!(" queue = 8 ".parse::<Limits>()?, Limits::without_rate(8));
/// // A rate needs its burst, and nothing is guessed.
/// assert!("per_second=5,queue=8".parse::<Limits>().is_err());
/// assert!("per_second=0,burst=1,queue=8".parse::<Limits>().is_err());
/// assert!("queue=8,queue=9".parse::<Limits>().is_err());
/// # Ok::<(), tenant::limits::FairConfigError>(())
/// ```
impl fmt::Display for Limits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_rate_limited() {
            write!(f, "per_second={},burst={},", self.per_second, self.burst)?;
        }
        write!(f, "queue={}", self.queue)
    }
}

impl FromStr for Limits {
    type Err = FairConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (mut per_second, mut burst, mut queue) = (None, None, None);
        for part in s.split(',') {
            let (key, value) = part.split_once('=').ok_or(FairConfigError::Syntax)?;
            let slot = match key.trim() {
                "per_second" => &mut per_second,
                "burst" => &mut burst,
                "queue" => &mut queue,
                _ => return Err(FairConfigError::Syntax),
            };
            // Digits only: `u64::from_str` would also take a leading `+`.
            let value = value.trim();
            if slot.is_some() || value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
                return Err(FairConfigError::Syntax);
            }
            *slot = Some(value.parse::<u64>().map_err(|_| FairConfigError::Syntax)?);
        }
        let queue = queue
            .and_then(|q| usize::try_from(q).ok())
            .ok_or(FairConfigError::Syntax)?;
        let rate = |n: u64| u32::try_from(n).map_err(|_| FairConfigError::Syntax);
        match (per_second, burst) {
            (None, None) => Ok(Limits::without_rate(queue)),
            (Some(per_second), Some(burst)) => Limits::new(rate(per_second)?, rate(burst)?, queue),
            _ => Err(FairConfigError::Syntax),
        }
    }
}

/// A `FairLayer` configuration (or a tenant's written [`Limits`]) that cannot work.
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
    /// Written limits that do not read as `per_second=N,burst=N,queue=N` or `queue=N`.
    #[error("limits are written `per_second=N,burst=N,queue=N` or `queue=N`")]
    Syntax,
}
