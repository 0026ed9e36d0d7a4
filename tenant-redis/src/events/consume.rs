//! [`EventConsumer`]: its options, and what it reads (its own pending entries, those it takes
//! over, new ones) with their delivery counts. What happens to each entry is in `deliver`.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::Value;
use redis::aio::ConnectionLike;
use serde::de::DeserializeOwned;

use tenant_core::{TenancyConfig, TenantCtx, TenantRegistry};

use crate::Error;
use crate::signing::SigningKeys;

use super::reply::{CLAIM_START, Entry, parse_autoclaim_reply, parse_read_reply};

use deliver::Outcome;

mod deliver;

/// How long an event of a tenant the registry does not know stays pending before it is
/// dead-lettered, unless [`EventConsumer::unknown_tenant_grace`] says otherwise: one minute.
pub const DEFAULT_UNKNOWN_TENANT_GRACE: Duration = Duration::from_secs(60);

/// How long an entry stays pending before any consumer takes it over, unless
/// [`EventConsumer::takeover_idle`] says otherwise: one minute.
pub const DEFAULT_TAKEOVER_IDLE: Duration = Duration::from_secs(60);

/// How many times a handler is given an event before it is dead-lettered, unless
/// [`EventConsumer::max_deliveries`] says otherwise.
pub const DEFAULT_MAX_DELIVERIES: u32 = 5;

/// How many entries one read asks for, unless [`EventConsumer::batch`] says otherwise.
const DEFAULT_BATCH: usize = 64;

/// What one [`EventConsumer::poll`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PollReport {
    /// Entries handed to the handler that succeeded, and acknowledged.
    pub handled: usize,
    /// Entries moved to the dead-letter stream, and acknowledged.
    pub dead_lettered: usize,
    /// Entries left pending: the handler or the registry failed.
    pub failed: usize,
    /// Entries left pending because the registry does not know their tenant, within the grace
    /// period.
    pub deferred: usize,
    /// Of the entries above, those this poll took over with `XAUTOCLAIM` (from a consumer that
    /// stopped, or this consumer's own, pending for longer than the takeover idle time).
    /// Not a tenant claim: "claim" is Redis's word for it (`XAUTOCLAIM`).
    pub taken_over: usize,
}

impl PollReport {
    /// Whether the read returned no entry at all.
    pub fn is_empty(&self) -> bool {
        self.handled + self.dead_lettered + self.failed + self.deferred == 0
    }
}

/// A member of a consumer group of an [`EventStream`](super::EventStream); see the
/// [module documentation](super) for what happens to each entry.
///
/// ```
/// # async fn f(stream: tenant::redis::EventStream<redis::aio::MultiplexedConnection>) {
/// use std::time::Duration;
///
/// let consumer = stream
///     .consumer("mailer", "mailer-1")
///     .batch(16)
///     .unknown_tenant_grace(Duration::from_secs(120))
///     .takeover_idle(Duration::from_secs(300))
///     .max_deliveries(3);
/// # }
/// ```
pub struct EventConsumer<C> {
    conn: C,
    stream: String,
    dead: String,
    group: String,
    consumer: String,
    keys: Arc<SigningKeys>,
    batch: usize,
    block: Option<Duration>,
    grace: Duration,
    takeover_idle: Duration,
    max_deliveries: u32,
    tenancy: TenancyConfig,
    /// `Some(id)`: reading this consumer's pending entries after `id`; `None`: done with them.
    pending_cursor: Option<String>,
    /// Where the next `XAUTOCLAIM` continues; [`CLAIM_START`] between scans.
    claim_cursor: String,
    /// When the next scan of the pending entries is due, after one that finished; `None`: now.
    next_takeover: Option<Instant>,
}

impl<C> fmt::Debug for EventConsumer<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventConsumer")
            .field("stream", &self.stream)
            .field("group", &self.group)
            .field("consumer", &self.consumer)
            .field("keys", &self.keys)
            .field("batch", &self.batch)
            .field("block", &self.block)
            .field("unknown_tenant_grace", &self.grace)
            .field("takeover_idle", &self.takeover_idle)
            .field("max_deliveries", &self.max_deliveries)
            .field("pending_cursor", &self.pending_cursor)
            .finish_non_exhaustive()
    }
}
/// Where a batch came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// This consumer's pending entries, read again.
    Pending,
    /// Taken over by `XAUTOCLAIM`.
    Claimed,
    /// Never delivered before.
    New,
}

impl<C: ConnectionLike + Clone + Send + Sync> EventConsumer<C> {
    /// A consumer with the default options: what
    /// [`EventStream::consumer`](super::EventStream::consumer) returns.
    pub(super) fn new(
        conn: C,
        stream: String,
        dead: String,
        group: String,
        consumer: String,
        keys: Arc<SigningKeys>,
    ) -> Self {
        EventConsumer {
            conn,
            stream,
            dead,
            group,
            consumer,
            keys,
            batch: DEFAULT_BATCH,
            block: None,
            grace: DEFAULT_UNKNOWN_TENANT_GRACE,
            takeover_idle: DEFAULT_TAKEOVER_IDLE,
            max_deliveries: DEFAULT_MAX_DELIVERIES,
            tenancy: TenancyConfig::default(),
            pending_cursor: Some("0".to_owned()),
            claim_cursor: CLAIM_START.to_owned(),
            next_takeover: None,
        }
    }

    /// At most `count` entries per read (at least 1; 64 by default).
    pub fn batch(mut self, count: usize) -> Self {
        self.batch = count.max(1);
        self
    }

    /// Reads of new entries wait up to `wait` for one to arrive (`BLOCK`); by default they return
    /// at once. Keep `wait` under the connection's response timeout (500 ms by default in the
    /// `redis` crate).
    pub fn block(mut self, wait: Duration) -> Self {
        self.block = Some(wait);
        self
    }

    /// How long an event whose tenant the registry does not know stays pending, looked up again
    /// each time it is read, before it is dead-lettered as `unknown_tenant`
    /// ([`DEFAULT_UNKNOWN_TENANT_GRACE`] by default; [`Duration::ZERO`] dead-letters it at once).
    /// Counted from when the event occurred or entered the stream, whichever is earlier. Make it
    /// longer than the registry's cache of misses
    /// ([`CachedRegistry`](tenant_core::CachedRegistry)'s time to live) and than the time a new
    /// tenant takes to reach the registry. The entry is read again after
    /// [`takeover_idle`](Self::takeover_idle), so it leaves the stream at the first read after the
    /// grace.
    pub fn unknown_tenant_grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// How long an entry stays pending on a consumer before this one takes it over with
    /// `XAUTOCLAIM` ([`DEFAULT_TAKEOVER_IDLE`] by default): entries of a consumer that stopped, and
    /// this consumer's own entries left pending (a failed handler, an unknown tenant), which are
    /// retried that way. Make it longer than a handler ever runs: a handler still running then
    /// sees its event handled by another consumer too. After a scan of the pending entries
    /// finds nothing more to claim, the next starts half of this time later.
    pub fn takeover_idle(mut self, idle: Duration) -> Self {
        self.takeover_idle = idle;
        self
    }

    /// How many times the handler is given an event before it is dead-lettered as
    /// `too_many_deliveries` (at least 1; [`DEFAULT_MAX_DELIVERIES`] by default): after the
    /// handler failed on the last of them, or when the entry is read with a higher count (its
    /// consumer stopped while handling it).
    pub fn max_deliveries(mut self, count: u32) -> Self {
        self.max_deliveries = count.max(1);
        self
    }

    /// The tenancy configuration whose allow-list an event's tenant must be on (every tenant by
    /// default): the same check the request boundary and the activity worker make, through
    /// [`TenantClaim::verify`](tenant_core::TenantClaim::verify).
    pub fn tenancy(mut self, config: TenancyConfig) -> Self {
        self.tenancy = config;
        self
    }

    /// Reads this consumer's pending entries again from the start, before new ones: what a
    /// restarted consumer does, and a way to retry failed entries without waiting for
    /// [`takeover_idle`](Self::takeover_idle).
    pub fn rewind(&mut self) {
        self.pending_cursor = Some("0".to_owned());
    }

    /// Creates the consumer group at the start of the stream, creating the stream if needed
    /// (`XGROUP CREATE .. 0 MKSTREAM`). An existing group is left as it is.
    pub async fn ensure_group(&self) -> Result<(), Error> {
        let mut conn = self.conn.clone();
        let created: Result<(), redis::RedisError> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(&self.stream)
            .arg(&self.group)
            .arg("0")
            .arg("MKSTREAM")
            .query_async(&mut conn)
            .await;
        match created {
            Err(error) if error.code() != Some("BUSYGROUP") => Err(error.into()),
            _ => Ok(()),
        }
    }

    /// Reads one batch — this consumer's pending entries first (after a start or a
    /// [`rewind`](Self::rewind)), then entries pending on any consumer for longer than
    /// [`takeover_idle`](Self::takeover_idle), then new ones — and processes every entry in it. An empty
    /// report means there was nothing to read.
    ///
    /// `handler` receives the checked tenant's context and the payload; an `Err` leaves the
    /// entry pending for a retry (or dead-letters it after
    /// [`max_deliveries`](Self::max_deliveries)) and is logged with `tracing`.
    ///
    /// A Redis error (a dropped connection, a restart) ends the poll with that error; the next
    /// poll starts by reading this consumer's pending entries again, as after a
    /// [`rewind`](Self::rewind).
    pub async fn poll<R, T, H, Fut, E>(
        &mut self,
        registry: &R,
        handler: H,
    ) -> Result<PollReport, Error>
    where
        R: TenantRegistry,
        T: DeserializeOwned,
        H: FnMut(TenantCtx, T) -> Fut,
        Fut: Future<Output = Result<(), E>>,
        E: fmt::Display,
    {
        let polled = self.poll_batch(registry, handler).await;
        if polled.is_err() {
            // The error may have cut a batch short (entries delivered to this consumer, some
            // never processed, one handled but not acknowledged) or lost the reply of a read
            // that Redis did deliver. Those entries are pending on this consumer, where only
            // XAUTOCLAIM would find them, after `takeover_idle`: read them again first instead.
            self.rewind();
        }
        polled
    }

    /// One [`poll`](Self::poll), without the rewind on an error.
    async fn poll_batch<R, T, H, Fut, E>(
        &mut self,
        registry: &R,
        mut handler: H,
    ) -> Result<PollReport, Error>
    where
        R: TenantRegistry,
        T: DeserializeOwned,
        H: FnMut(TenantCtx, T) -> Fut,
        Fut: Future<Output = Result<(), E>>,
        E: fmt::Display,
    {
        let mut report = PollReport::default();
        let (entries, source) = self.next_batch().await?;
        // Entries read for the first time were delivered once; others have been counted.
        let counts = match source {
            Source::New => vec![Some(1); entries.len()],
            Source::Pending | Source::Claimed => self.delivery_counts(&entries).await?,
        };
        for ((id, fields), count) in entries.into_iter().zip(counts) {
            let deliveries = match count {
                Some(count) => count,
                // Deleted while pending: no longer counted, dead-lettered below all the same.
                None if fields.is_none() => 1,
                None => {
                    // Acknowledged or taken over by another consumer since it was read.
                    tracing::debug!(
                        stream = %self.stream,
                        entry_id = %id,
                        "entry no longer pending on this consumer; skipped"
                    );
                    continue;
                }
            };
            if source == Source::Claimed {
                report.taken_over += 1;
            }
            match self
                .deliver(registry, &mut handler, &id, fields, deliveries)
                .await?
            {
                Outcome::Handled => report.handled += 1,
                Outcome::DeadLettered => report.dead_lettered += 1,
                Outcome::Failed => report.failed += 1,
                Outcome::Deferred => report.deferred += 1,
            }
        }
        Ok(report)
    }

    /// This consumer's pending entries while there are any, else claimable ones, else new ones.
    async fn next_batch(&mut self) -> Result<(Vec<Entry>, Source), Error> {
        while let Some(cursor) = &self.pending_cursor {
            let entries = self.read(cursor).await?;
            // Pending entries come in id order: continue after the last one next time. None
            // left: done with them.
            match entries.last() {
                Some((last, _)) => {
                    self.pending_cursor = Some(last.clone());
                    return Ok((entries, Source::Pending));
                }
                None => self.pending_cursor = None,
            }
        }
        let due = self.claim_cursor != CLAIM_START
            || self.next_takeover.is_none_or(|at| Instant::now() >= at);
        if due {
            let entries = self.autoclaim().await?;
            if !entries.is_empty() {
                return Ok((entries, Source::Claimed));
            }
        }
        Ok((self.read(">").await?, Source::New))
    }

    /// `XREADGROUP` after `id`: `>` for new entries, else this consumer's pending ones.
    async fn read(&self, id: &str) -> Result<Vec<Entry>, Error> {
        let mut cmd = redis::cmd("XREADGROUP");
        cmd.arg("GROUP")
            .arg(&self.group)
            .arg(&self.consumer)
            .arg("COUNT")
            .arg(self.batch);
        if id == ">"
            && let Some(wait) = self.block
        {
            cmd.arg("BLOCK").arg(millis(wait));
        }
        cmd.arg("STREAMS").arg(&self.stream).arg(id);
        let mut conn = self.conn.clone();
        let reply: Value = cmd.query_async(&mut conn).await?;
        parse_read_reply(reply)
    }

    /// One `XAUTOCLAIM` step from the claim cursor. Entries deleted from the stream while pending
    /// (which Redis drops from the pending list) come back without fields.
    async fn autoclaim(&mut self) -> Result<Vec<Entry>, Error> {
        let mut conn = self.conn.clone();
        let reply: Value = redis::cmd("XAUTOCLAIM")
            .arg(&self.stream)
            .arg(&self.group)
            .arg(&self.consumer)
            .arg(millis(self.takeover_idle))
            .arg(&self.claim_cursor)
            .arg("COUNT")
            .arg(self.batch)
            .query_async(&mut conn)
            .await?;
        let (next, entries) = parse_autoclaim_reply(reply)?;
        if next == CLAIM_START {
            self.next_takeover = Some(Instant::now() + self.takeover_idle / 2);
        }
        self.claim_cursor = next;
        Ok(entries)
    }

    /// Each entry's delivery count, from `XPENDING` (one pipelined round trip), or `None` when
    /// it is no longer pending on this consumer.
    async fn delivery_counts(&self, entries: &[Entry]) -> Result<Vec<Option<u64>>, Error> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for (id, _) in entries {
            pipe.cmd("XPENDING")
                .arg(&self.stream)
                .arg(&self.group)
                .arg(id)
                .arg(id)
                .arg(1);
        }
        let mut conn = self.conn.clone();
        let replies: Vec<Vec<(String, String, u64, u64)>> = pipe.query_async(&mut conn).await?;
        if replies.len() != entries.len() {
            return Err(Error::Redis(redis::RedisError::from((
                redis::ErrorKind::UnexpectedReturnType,
                "XPENDING: expected one reply per entry",
            ))));
        }
        Ok(replies
            .into_iter()
            .map(|pending| {
                pending
                    .into_iter()
                    .find(|(_, consumer, _, _)| *consumer == self.consumer)
                    .map(|(_, _, _, count)| count)
            })
            .collect())
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
