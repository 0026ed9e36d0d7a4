//! Events that carry their tenant: [`TenantEvent`], an envelope only a [`TenantCtx`] produces,
//! signed and published to a Redis stream by [`EventStream`], and consumed by an
//! [`EventConsumer`] that verifies the signature, then checks the tenant against a
//! [`TenantRegistry`], before a handler sees the event.
//!
//! # Wire format
//!
//! Each stream entry has exactly three fields:
//!
//! | field | value |
//! |---|---|
//! | `envelope` | JSON: `{"tenant_id":"acme","event_id":"<uuid v4>","occurred_at_ms":1764100000000,"payload":{..}}` |
//! | `kid` | the id of the key that signed it (see [`SigningKeys`]) |
//! | `sig` | standard, padded base64 of the HMAC-SHA256 tag, under that key, of the MAC input below |
//!
//! `occurred_at_ms` is milliseconds since the Unix epoch. Unknown JSON fields are refused. The
//! MAC input is, byte for byte:
//!
//! ```text
//! "tenant-redis/event/v1" 0x00
//! u64 big-endian length of the stream key ‖ the stream key
//! u64 big-endian length of the kid        ‖ the kid
//! the envelope, exactly as stored in the entry
//! ```
//!
//! so the tag covers the tenant id, event id, time and payload as they were written, the key id,
//! and the stream: an envelope is refused in any other stream, under any other key id, or with a
//! single byte changed.
//!
//! # Delivery
//!
//! The consumer reads with `XREADGROUP` in a consumer group (created idempotently, with
//! `MKSTREAM`). For each entry it checks, in this order:
//! 1. the fields: `envelope`, `kid` and `sig`, each at most once, and nothing else;
//! 2. the signature: the key id among the accepted keys, the tag the envelope's MAC (compared in
//!    constant time). Nothing of an entry that fails here is parsed or looked up;
//! 3. the envelope: valid JSON of the expected shape, with a payload of the handler's type;
//! 4. the tenant: known to the registry, and active;
//! 5. the delivery count: at most [`max_deliveries`](EventConsumer::max_deliveries).
//!
//! Then it hands the event to the handler as `(TenantCtx, payload)`, the context built from the
//! registry's record, and acknowledges it (`XACK`) only once the handler succeeded.
//!
//! What fails a check goes to the dead-letter stream `<stream>:dead` with a
//! [`reason`](DeadLetterReason) field, and is acknowledged, with a `tracing` warning carrying the
//! reason. It never reaches the handler and is never given a default tenant. Except:
//! - a tenant the registry does not know is given a grace period
//!   ([`unknown_tenant_grace`](EventConsumer::unknown_tenant_grace)): the registry may not know
//!   yet a tenant created a moment ago, or may have cached its absence. The entry stays pending
//!   and is looked up again when it is next read; it is dead-lettered once the grace has run out,
//!   counted from when the event occurred or entered the stream, whichever is earlier;
//! - a registry that fails (a transient error) leaves the entry pending;
//! - a handler that fails leaves the entry pending, until its delivery count reaches
//!   `max_deliveries`: then it is dead-lettered (a poison event).
//!
//! # Retries and consumers that stopped
//!
//! A consumer that starts (or [`rewind`](EventConsumer::rewind)s) first reads its own pending
//! entries (`XREADGROUP .. 0`). After that, each poll first runs `XAUTOCLAIM`, which takes over
//! entries pending on any consumer of the group — one that died, or this one — for longer than
//! [`claim_idle`](EventConsumer::claim_idle), then reads new entries (`>`). Entries left pending
//! are retried that way, and nothing is lost with a consumer that does not come back.
//!
//! Redis counts each delivery of an entry (`XPENDING`). A delivery that ended with the entry left
//! pending for the grace period or for a registry failure is given back (`XCLAIM .. RETRYCOUNT`),
//! so the count is the number of times a handler was started, or may have been (a consumer that
//! stopped mid-handler). An entry read with a count above `max_deliveries` is dead-lettered
//! without running the handler again: an event that crashes its consumer does not crash every
//! consumer in turn.
//!
//! A poll that fails on a Redis error (a dropped connection, a restart) returns it, and the next
//! poll reads the consumer's own pending entries again first: entries of a batch cut short are
//! retried at once, not after `claim_idle`.
//!
//! Delivery is at least once: a handler still running after `claim_idle` may see its event
//! handled a second time by another consumer, and a verbatim copy of a signed entry added to the
//! stream again verifies (the signature proves who wrote an event, not that it is new). Handlers
//! must be idempotent.
//!
//! # Restarts
//!
//! Streams and consumers use the connection they are given, and a
//! `redis::aio::MultiplexedConnection` fails every call once its connection has dropped. Give a
//! long-running publisher or consumer a connection that reconnects, such as
//! `redis::aio::ConnectionManager` (the `redis` crate's feature `connection-manager`); calls
//! made while Redis is away fail with [`Error::Redis`], and a publish that failed may or may not
//! have been appended. What Redis acknowledged survives its restart only if it persists it:
//! `appendonly yes` with `appendfsync always` keeps every acknowledged entry, acknowledgement and
//! consumer group across a crash, of the server process or of the machine.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use redis::Value;
use redis::aio::ConnectionLike;
use serde::Serialize;
use serde::de::DeserializeOwned;

use tenant_core::registry::{from_unix_millis, to_unix_millis};
use tenant_core::{ClaimError, TenancyConfig, TenantClaim, TenantCtx, TenantId, TenantRegistry};

use crate::Error;
use crate::signing::{SigningKeys, VerifyError, encode_tag};

/// The stream field holding the JSON envelope.
pub const ENVELOPE_FIELD: &str = "envelope";

/// The stream field holding the id of the key that signed the envelope.
pub const KEY_ID_FIELD: &str = "kid";

/// The stream field holding the envelope's signature (base64 of the HMAC-SHA256 tag).
pub const SIGNATURE_FIELD: &str = "sig";

/// The suffix of the dead-letter stream: `<stream>:dead`.
pub const DEAD_LETTER_SUFFIX: &str = ":dead";

/// How long an event of a tenant the registry does not know stays pending before it is
/// dead-lettered, unless [`EventConsumer::unknown_tenant_grace`] says otherwise: one minute.
pub const DEFAULT_UNKNOWN_TENANT_GRACE: Duration = Duration::from_secs(60);

/// How long an entry stays pending before any consumer takes it over, unless
/// [`EventConsumer::claim_idle`] says otherwise: one minute.
pub const DEFAULT_CLAIM_IDLE: Duration = Duration::from_secs(60);

/// How many times a handler is given an event before it is dead-lettered, unless
/// [`EventConsumer::max_deliveries`] says otherwise.
pub const DEFAULT_MAX_DELIVERIES: u32 = 5;

/// How many entries one read asks for, unless [`EventConsumer::batch`] says otherwise.
const DEFAULT_BATCH: usize = 64;

/// The `XAUTOCLAIM` cursor of a scan that starts, or has finished, at the start of the group's
/// pending entries.
const CLAIM_START: &str = "0-0";

/// An event of one tenant: tenant id, event id (UUID v4), time, payload.
///
/// Its fields are private and the only constructor takes the tenant's `&TenantCtx`, so an event
/// cannot be attributed to a tenant the code does not act for. It serialises to the
/// [wire format](self#wire-format); it deliberately does not deserialise: a received event
/// reaches code only through an [`EventConsumer`], as a checked `(TenantCtx, payload)`.
///
/// ```
/// use tenant::redis::TenantEvent;
/// use tenant::{Plan, TenantCtx};
///
/// let acme = TenantCtx::trusted("acme".parse()?, "tenant_acme".parse()?, Plan::Free);
/// let event = TenantEvent::new(&acme, serde_json::json!({"invoice": 7}));
/// assert_eq!(event.tenant_id(), acme.tenant_id());
/// assert_eq!(event.event_id().get_version_num(), 4);
///
/// let json = serde_json::to_value(&event).unwrap();
/// assert_eq!(json["tenant_id"], "acme");
/// assert_eq!(json["payload"]["invoice"], 7);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TenantEvent<T> {
    tenant_id: TenantId,
    event_id: uuid::Uuid,
    #[serde(rename = "occurred_at_ms")]
    occurred_at: u64,
    payload: T,
}

impl<T> TenantEvent<T> {
    /// A new event of `ctx`'s tenant, with a fresh id, occurring now.
    pub fn new(ctx: &TenantCtx, payload: T) -> Self {
        // Before the epoch only on a clock set wrong; the wire field is unsigned.
        let occurred_at = u64::try_from(to_unix_millis(SystemTime::now())).unwrap_or(0);
        TenantEvent {
            tenant_id: ctx.tenant_id().clone(),
            event_id: uuid::Uuid::new_v4(),
            occurred_at,
            payload,
        }
    }

    /// The tenant the event belongs to.
    pub fn tenant_id(&self) -> &TenantId {
        &self.tenant_id
    }

    /// The event's unique id (UUID v4): what an idempotent handler deduplicates on.
    pub fn event_id(&self) -> uuid::Uuid {
        self.event_id
    }

    /// When the event occurred, to the millisecond.
    pub fn occurred_at(&self) -> SystemTime {
        i64::try_from(self.occurred_at)
            .ok()
            .and_then(from_unix_millis)
            .unwrap_or(UNIX_EPOCH)
    }

    /// The payload.
    pub fn payload(&self) -> &T {
        &self.payload
    }
}

/// What the consumer reads: the envelope as it came, checked field by field.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ReceivedEnvelope<T> {
    tenant_id: TenantId,
    #[allow(dead_code)]
    event_id: uuid::Uuid,
    occurred_at_ms: u64,
    payload: T,
}

/// Why an entry went to the dead-letter stream: the `reason` field there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeadLetterReason {
    /// A signed envelope that is not JSON, has a missing or invalid field, or a payload of another
    /// shape; an entry with no `envelope` field, or with a field other than `envelope`, `kid` and
    /// `sig`; an entry deleted from the stream while pending.
    MalformedEnvelope,
    /// A field (`envelope`, `kid` or `sig`) given more than once: which one counts would be a
    /// guess.
    DuplicateField,
    /// No `kid` or no `sig` field: an unsigned envelope.
    MissingSignature,
    /// The `kid` field names no accepted key.
    UnknownKeyId,
    /// The `sig` field is not base64 of a 32-byte tag, or not the MAC of this envelope, key id
    /// and stream under the named key: forged or altered.
    BadSignature,
    /// The registry does not know the envelope's tenant, and the grace period has run out.
    UnknownTenant,
    /// The envelope's tenant exists but is not active.
    InactiveTenant,
    /// The envelope's tenant is not on this consumer's allow-list
    /// ([`EventConsumer::tenancy`]).
    TenantNotAllowed,
    /// The handler was given the event [`max_deliveries`](EventConsumer::max_deliveries) times
    /// and never succeeded (or its consumer stopped while handling it).
    TooManyDeliveries,
}

impl DeadLetterReason {
    /// The `reason` field's value: `malformed_envelope`, `duplicate_field`,
    /// `missing_signature`, `unknown_key_id`, `bad_signature`, `unknown_tenant`,
    /// `inactive_tenant`, `tenant_not_allowed`, `too_many_deliveries`.
    ///
    /// ```
    /// use tenant::redis::events::DeadLetterReason;
    ///
    /// assert_eq!(DeadLetterReason::BadSignature.as_str(), "bad_signature");
    /// assert_eq!(DeadLetterReason::TooManyDeliveries.to_string(), "too_many_deliveries");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            DeadLetterReason::MalformedEnvelope => "malformed_envelope",
            DeadLetterReason::DuplicateField => "duplicate_field",
            DeadLetterReason::MissingSignature => "missing_signature",
            DeadLetterReason::UnknownKeyId => "unknown_key_id",
            DeadLetterReason::BadSignature => "bad_signature",
            DeadLetterReason::UnknownTenant => "unknown_tenant",
            DeadLetterReason::InactiveTenant => "inactive_tenant",
            DeadLetterReason::TenantNotAllowed => "tenant_not_allowed",
            DeadLetterReason::TooManyDeliveries => "too_many_deliveries",
        }
    }
}

impl fmt::Display for DeadLetterReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A Redis stream of [`TenantEvent`]s: signs and publishes them, and makes consumers for it.
///
/// There is no unsigned mode: a stream needs its [`SigningKeys`], and its consumers refuse
/// every entry that does not carry a valid signature by one of them.
///
/// ```no_run
/// use tenant::InMemoryRegistry;
/// use tenant::redis::{EventStream, SigningKeys, TenantEvent};
/// use tenant::{Plan, TenantCtx};
///
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct InvoicePaid { invoice: u64 }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // From configuration, say `EVENT_SIGNING_KEYS=kid1:<base64 of 32 random bytes>`.
/// let keys: SigningKeys = "kid1:tlL9C3QBIVlBWxotkSiN2fBkFH9h2Y3eQ+jLNdhOimU=".parse()?;
/// let client = redis::Client::open("redis://127.0.0.1/")?;
/// let conn = client.get_multiplexed_async_connection().await?;
/// let stream = EventStream::new(conn, "invoices", keys);
/// let acme = TenantCtx::trusted("acme".parse()?, "tenant_acme".parse()?, Plan::Free);
/// stream.publish(&TenantEvent::new(&acme, InvoicePaid { invoice: 7 })).await?;
///
/// let registry = InMemoryRegistry::from_ids(["acme".parse()?])?;
/// let mut consumer = stream.consumer("mailer", "mailer-1");
/// consumer.ensure_group().await?;
/// let report = consumer
///     .poll(&registry, |ctx: TenantCtx, paid: InvoicePaid| async move {
///         println!("{}: invoice {} paid", ctx.tenant_id(), paid.invoice);
///         Ok::<(), std::io::Error>(())
///     })
///     .await?;
/// assert_eq!(report.handled, 1);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct EventStream<C> {
    conn: C,
    stream: String,
    keys: Arc<SigningKeys>,
}

impl<C> fmt::Debug for EventStream<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventStream")
            .field("stream", &self.stream)
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

impl<C: ConnectionLike + Clone + Send + Sync> EventStream<C> {
    /// The stream `stream` over `conn`, its envelopes signed with the current key of `keys` and
    /// verified against all of them (a `SigningKeys`, or an `Arc` of one shared by streams).
    pub fn new(conn: C, stream: impl Into<String>, keys: impl Into<Arc<SigningKeys>>) -> Self {
        EventStream {
            conn,
            stream: stream.into(),
            keys: keys.into(),
        }
    }

    /// The stream's key.
    pub fn name(&self) -> &str {
        &self.stream
    }

    /// The dead-letter stream's key: `<stream>:dead`.
    pub fn dead_letter_name(&self) -> String {
        format!("{}{DEAD_LETTER_SUFFIX}", self.stream)
    }

    /// Signs `event` with the current key and appends it
    /// (`XADD <stream> * envelope <json> kid <key id> sig <tag>`); returns the entry id.
    pub async fn publish<T: Serialize>(&self, event: &TenantEvent<T>) -> Result<String, Error> {
        let envelope = serde_json::to_vec(event).map_err(Error::EventEncoding)?;
        let (key_id, tag) = self.keys.sign(&self.stream, &envelope);
        let mut conn = self.conn.clone();
        Ok(redis::cmd("XADD")
            .arg(&self.stream)
            .arg("*")
            .arg(ENVELOPE_FIELD)
            .arg(envelope)
            .arg(KEY_ID_FIELD)
            .arg(key_id)
            .arg(SIGNATURE_FIELD)
            .arg(encode_tag(&tag))
            .query_async(&mut conn)
            .await?)
    }

    /// A consumer named `consumer` in the consumer group `group`, verifying with this stream's
    /// keys. It starts by reading its own pending entries. Give a consumer that
    /// [blocks](EventConsumer::block) a connection of its own: a blocking read holds a
    /// multiplexed connection for its duration.
    pub fn consumer(
        &self,
        group: impl Into<String>,
        consumer: impl Into<String>,
    ) -> EventConsumer<C> {
        EventConsumer {
            conn: self.conn.clone(),
            stream: self.stream.clone(),
            dead: self.dead_letter_name(),
            group: group.into(),
            consumer: consumer.into(),
            keys: Arc::clone(&self.keys),
            batch: DEFAULT_BATCH,
            block: None,
            grace: DEFAULT_UNKNOWN_TENANT_GRACE,
            claim_idle: DEFAULT_CLAIM_IDLE,
            max_deliveries: DEFAULT_MAX_DELIVERIES,
            tenancy: TenancyConfig::default(),
            pending_cursor: Some("0".to_owned()),
            claim_cursor: CLAIM_START.to_owned(),
            next_claim: None,
        }
    }
}

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
    /// stopped, or this consumer's own, pending for longer than the claim idle time).
    pub claimed: usize,
}

impl PollReport {
    /// Whether the read returned no entry at all.
    pub fn is_empty(&self) -> bool {
        self.handled + self.dead_lettered + self.failed + self.deferred == 0
    }
}

/// A member of a consumer group of an [`EventStream`]; see the [module documentation](self) for
/// what happens to each entry.
///
/// ```
/// # async fn f(stream: tenant::redis::EventStream<redis::aio::MultiplexedConnection>) {
/// use std::time::Duration;
///
/// let consumer = stream
///     .consumer("mailer", "mailer-1")
///     .batch(16)
///     .unknown_tenant_grace(Duration::from_secs(120))
///     .claim_idle(Duration::from_secs(300))
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
    claim_idle: Duration,
    max_deliveries: u32,
    tenancy: TenancyConfig,
    /// `Some(id)`: reading this consumer's pending entries after `id`; `None`: done with them.
    pending_cursor: Option<String>,
    /// Where the next `XAUTOCLAIM` continues; [`CLAIM_START`] between scans.
    claim_cursor: String,
    /// When the next scan of the pending entries is due, after one that finished; `None`: now.
    next_claim: Option<Instant>,
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
            .field("claim_idle", &self.claim_idle)
            .field("max_deliveries", &self.max_deliveries)
            .field("pending_cursor", &self.pending_cursor)
            .finish_non_exhaustive()
    }
}

/// One entry as read: its id and fields (`None` when the entry was deleted while pending).
type Entry = (String, Option<Vec<(Vec<u8>, Vec<u8>)>>);

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
    /// [`claim_idle`](Self::claim_idle), so it leaves the stream at the first read after the
    /// grace.
    pub fn unknown_tenant_grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// How long an entry stays pending on a consumer before this one takes it over with
    /// `XAUTOCLAIM` ([`DEFAULT_CLAIM_IDLE`] by default): entries of a consumer that stopped, and
    /// this consumer's own entries left pending (a failed handler, an unknown tenant), which are
    /// retried that way. Make it longer than a handler ever runs: a handler still running then
    /// sees its event handled by another consumer too. After a scan of the pending entries
    /// finds nothing more to claim, the next starts half of this time later.
    pub fn claim_idle(mut self, idle: Duration) -> Self {
        self.claim_idle = idle;
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
    /// [`TenantClaim::verify`].
    pub fn tenancy(mut self, config: TenancyConfig) -> Self {
        self.tenancy = config;
        self
    }

    /// Reads this consumer's pending entries again from the start, before new ones: what a
    /// restarted consumer does, and a way to retry failed entries without waiting for
    /// [`claim_idle`](Self::claim_idle).
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
    /// [`claim_idle`](Self::claim_idle), then new ones — and processes every entry in it. An empty
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
            // XAUTOCLAIM would find them, after `claim_idle`: read them again first instead.
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
                report.claimed += 1;
            }
            match self
                .process(registry, &mut handler, &id, fields, deliveries)
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
            || self.next_claim.is_none_or(|at| Instant::now() >= at);
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
            .arg(millis(self.claim_idle))
            .arg(&self.claim_cursor)
            .arg("COUNT")
            .arg(self.batch)
            .query_async(&mut conn)
            .await?;
        let (next, entries) = parse_autoclaim_reply(reply)?;
        if next == CLAIM_START {
            self.next_claim = Some(Instant::now() + self.claim_idle / 2);
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

    async fn process<R, T, H, Fut, E>(
        &self,
        registry: &R,
        handler: &mut H,
        id: &str,
        fields: Option<Vec<(Vec<u8>, Vec<u8>)>>,
        deliveries: u64,
    ) -> Result<Outcome, Error>
    where
        R: TenantRegistry,
        T: DeserializeOwned,
        H: FnMut(TenantCtx, T) -> Fut,
        Fut: Future<Output = Result<(), E>>,
        E: fmt::Display,
    {
        use DeadLetterReason as Reason;

        let Some(fields) = fields else {
            let detail = "the entry was deleted while pending";
            return self
                .dead_letter(
                    id,
                    Signed::default(),
                    Reason::MalformedEnvelope,
                    detail,
                    None,
                )
                .await;
        };
        // 1. The fields.
        let signed = match read_fields(&fields) {
            Ok(signed) => signed,
            Err((reason, detail)) => {
                return self
                    .dead_letter(id, Signed::default(), reason, &detail, None)
                    .await;
            }
        };
        let Some(raw) = signed.envelope else {
            let detail = "no envelope field";
            return self
                .dead_letter(id, signed, Reason::MalformedEnvelope, detail, None)
                .await;
        };
        // 2. The signature, before anything of the envelope is read.
        let (Some(key_id), Some(tag)) = (signed.key_id, signed.tag) else {
            let detail = "no kid or no sig field";
            return self
                .dead_letter(id, signed, Reason::MissingSignature, detail, None)
                .await;
        };
        if let Err(error) = self.keys.verify(&self.stream, key_id, raw, tag) {
            let (reason, detail) = match error {
                VerifyError::UnknownKeyId => (
                    Reason::UnknownKeyId,
                    format!("no accepted key has the id {:?}", printable(key_id)),
                ),
                VerifyError::BadSignature => (
                    Reason::BadSignature,
                    "the signature is not this envelope's under the named key".to_owned(),
                ),
            };
            return self.dead_letter(id, signed, reason, &detail, None).await;
        }
        // 3. The envelope.
        let envelope: ReceivedEnvelope<T> = match parse_envelope(raw) {
            Ok(envelope) => envelope,
            Err(detail) => {
                return self
                    .dead_letter(id, signed, Reason::MalformedEnvelope, &detail, None)
                    .await;
            }
        };
        let tenant_id = &envelope.tenant_id;
        // 4. The tenant: the envelope's tenant id is a claim, verified like every claim (exists,
        // active, allowed; schema and plan from the registry).
        let claim = TenantClaim::new(tenant_id.clone());
        let ctx = match claim.verify(registry, &self.tenancy).await {
            Ok(ctx) => ctx,
            Err(ClaimError::Unknown) => {
                let since = entry_millis(id).map_or(envelope.occurred_at_ms, |added| {
                    added.min(envelope.occurred_at_ms)
                });
                let now = u64::try_from(to_unix_millis(SystemTime::now())).unwrap_or(0);
                let age = Duration::from_millis(now.saturating_sub(since));
                if age < self.grace {
                    tracing::info!(
                        stream = %self.stream,
                        entry_id = %id,
                        claimed_tenant_id = %tenant_id,
                        age_ms = millis(age),
                        "tenant not in the registry; event left pending within the grace period"
                    );
                    self.give_back(id, deliveries).await?;
                    return Ok(Outcome::Deferred);
                }
                let detail = format!(
                    "no such tenant in the registry after the grace period of {} ms",
                    millis(self.grace)
                );
                return self
                    .dead_letter(id, signed, Reason::UnknownTenant, &detail, Some(tenant_id))
                    .await;
            }
            Err(ClaimError::Registry(error)) => {
                tracing::warn!(
                    stream = %self.stream,
                    entry_id = %id,
                    tenant_id = %tenant_id,
                    error = %error,
                    "tenant lookup failed; event left pending for a retry"
                );
                self.give_back(id, deliveries).await?;
                return Ok(Outcome::Failed);
            }
            Err(refused) => {
                let reason = match refused {
                    ClaimError::NotAllowed => Reason::TenantNotAllowed,
                    _ => Reason::InactiveTenant,
                };
                let detail = refused.to_string();
                return self
                    .dead_letter(id, signed, reason, &detail, Some(tenant_id))
                    .await;
            }
        };
        // 5. The delivery count.
        let max = u64::from(self.max_deliveries);
        if deliveries > max {
            let detail = format!(
                "delivery {deliveries} of at most {max}: the handler never finished \
                 (its consumer stopped while handling the event?)"
            );
            return self
                .dead_letter(
                    id,
                    signed,
                    Reason::TooManyDeliveries,
                    &detail,
                    Some(tenant_id),
                )
                .await;
        }
        match handler(ctx, envelope.payload).await {
            Ok(()) => {
                self.ack(id).await?;
                Ok(Outcome::Handled)
            }
            Err(error) if deliveries >= max => {
                let detail =
                    format!("the handler failed on delivery {deliveries} of {max}: {error}");
                self.dead_letter(
                    id,
                    signed,
                    Reason::TooManyDeliveries,
                    &detail,
                    Some(tenant_id),
                )
                .await
            }
            Err(error) => {
                tracing::warn!(
                    stream = %self.stream,
                    entry_id = %id,
                    tenant_id = %tenant_id,
                    delivery = deliveries,
                    max_deliveries = max,
                    error = %error,
                    "event handler failed; event left pending for a retry"
                );
                Ok(Outcome::Failed)
            }
        }
    }

    async fn ack(&self, id: &str) -> Result<(), Error> {
        let mut conn = self.conn.clone();
        let _: u64 = redis::cmd("XACK")
            .arg(&self.stream)
            .arg(&self.group)
            .arg(id)
            .query_async(&mut conn)
            .await?;
        Ok(())
    }

    /// Undoes the delivery count of a delivery that never reached the handler (the entry stays
    /// pending on this consumer, its idle time restarting): `XCLAIM .. RETRYCOUNT .. JUSTID`.
    async fn give_back(&self, id: &str, deliveries: u64) -> Result<(), Error> {
        let mut conn = self.conn.clone();
        let _: Value = redis::cmd("XCLAIM")
            .arg(&self.stream)
            .arg(&self.group)
            .arg(&self.consumer)
            .arg(0)
            .arg(id)
            .arg("RETRYCOUNT")
            .arg(deliveries.saturating_sub(1))
            .arg("JUSTID")
            .query_async(&mut conn)
            .await?;
        Ok(())
    }

    /// Copies the entry to the dead-letter stream with its reason and acknowledges it, in one
    /// `MULTI`/`EXEC`, so it is neither lost nor left pending.
    async fn dead_letter(
        &self,
        id: &str,
        copy: Signed<'_>,
        reason: DeadLetterReason,
        detail: &str,
        tenant: Option<&TenantId>,
    ) -> Result<Outcome, Error> {
        // The detail may quote hostile input (serde errors do): keep it short.
        let detail: String = detail.chars().take(200).collect();
        tracing::warn!(
            stream = %self.stream,
            entry_id = %id,
            reason = reason.as_str(),
            detail = %detail,
            claimed_tenant_id = tenant.map(TenantId::as_str),
            "event dead-lettered"
        );
        let mut xadd = redis::cmd("XADD");
        xadd.arg(&self.dead)
            .arg("*")
            .arg("reason")
            .arg(reason.as_str())
            .arg("detail")
            .arg(&detail)
            .arg("source_id")
            .arg(id)
            .arg("group")
            .arg(&self.group);
        for (field, value) in [
            (ENVELOPE_FIELD, copy.envelope),
            (KEY_ID_FIELD, copy.key_id),
            (SIGNATURE_FIELD, copy.tag),
        ] {
            if let Some(value) = value {
                xadd.arg(field).arg(value);
            }
        }
        let mut pipe = redis::pipe();
        pipe.atomic()
            .add_command(xadd)
            .ignore()
            .cmd("XACK")
            .arg(&self.stream)
            .arg(&self.group)
            .arg(id)
            .ignore();
        let mut conn = self.conn.clone();
        let () = pipe.query_async(&mut conn).await?;
        Ok(Outcome::DeadLettered)
    }
}

enum Outcome {
    Handled,
    DeadLettered,
    Failed,
    Deferred,
}

/// The fields of an entry that the consumer reads, each found exactly once (or not at all).
#[derive(Clone, Copy, Default)]
struct Signed<'a> {
    envelope: Option<&'a [u8]>,
    key_id: Option<&'a [u8]>,
    tag: Option<&'a [u8]>,
}

/// The entry's `envelope`, `kid` and `sig`; a field given twice, or any other field, is refused
/// with its dead-letter reason and detail.
fn read_fields(fields: &[(Vec<u8>, Vec<u8>)]) -> Result<Signed<'_>, (DeadLetterReason, String)> {
    let mut signed = Signed::default();
    let mut unexpected = None;
    for (name, value) in fields {
        let slot = match name.as_slice() {
            n if n == ENVELOPE_FIELD.as_bytes() => &mut signed.envelope,
            n if n == KEY_ID_FIELD.as_bytes() => &mut signed.key_id,
            n if n == SIGNATURE_FIELD.as_bytes() => &mut signed.tag,
            _ => {
                unexpected.get_or_insert(name);
                continue;
            }
        };
        if slot.replace(value).is_some() {
            let detail = format!("the field {:?} appears more than once", printable(name));
            return Err((DeadLetterReason::DuplicateField, detail));
        }
    }
    if let Some(name) = unexpected {
        let detail = format!("unexpected field {:?}", printable(name));
        return Err((DeadLetterReason::MalformedEnvelope, detail));
    }
    Ok(signed)
}

/// The envelope, which must be a JSON object: serde's derive also accepts a struct as an array of
/// its fields in order, a second wire format that no other implementation of this one expects.
fn parse_envelope<T: DeserializeOwned>(raw: &[u8]) -> Result<ReceivedEnvelope<T>, String> {
    match raw.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => serde_json::from_slice(raw).map_err(|error| error.to_string()),
        _ => Err("the envelope is not a JSON object".to_owned()),
    }
}

/// At most 64 bytes of `bytes`, as text, for a detail.
fn printable(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(64)]).into_owned()
}

/// The milliseconds part of an entry id (`<ms>-<seq>`): when Redis appended the entry.
fn entry_millis(id: &str) -> Option<u64> {
    id.split_once('-')?.0.parse().ok()
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Parses an `XREADGROUP` reply of one stream, RESP2 (arrays) or RESP3 (maps): `nil`, or
/// `[[stream, [[id, [field, value, ..] | nil], ..]]]`.
fn parse_read_reply(reply: Value) -> Result<Vec<Entry>, Error> {
    let streams = match reply {
        Value::Nil => return Ok(Vec::new()),
        Value::Array(streams) => streams
            .into_iter()
            .map(|stream| match stream {
                Value::Array(mut pair) if pair.len() == 2 => Ok(pair.swap_remove(1)),
                other => Err(unexpected("stream", &other)),
            })
            .collect::<Result<Vec<_>, _>>()?,
        Value::Map(streams) => streams.into_iter().map(|(_, entries)| entries).collect(),
        other => return Err(unexpected("reply", &other)),
    };
    let mut out = Vec::new();
    for entries in streams {
        out.extend(parse_entries(entries)?);
    }
    Ok(out)
}

/// Parses an `XAUTOCLAIM` reply: `[next cursor, [[id, fields | nil] | nil, ..], [deleted id, ..]]`
/// (the third element since Redis 7). Deleted entries come back without fields.
fn parse_autoclaim_reply(reply: Value) -> Result<(String, Vec<Entry>), Error> {
    let Value::Array(parts) = reply else {
        return Err(unexpected("XAUTOCLAIM reply", &reply));
    };
    if !(2..=3).contains(&parts.len()) {
        return Err(unexpected("XAUTOCLAIM reply", &Value::Array(parts)));
    }
    let mut parts = parts.into_iter();
    let next: String = parts
        .next()
        .map(redis::from_redis_value)
        .transpose()
        .map_err(|e| Error::Redis(e.into()))?
        .unwrap_or_else(|| CLAIM_START.to_owned());
    let mut entries = match parts.next() {
        Some(entries) => parse_entries(entries)?,
        None => Vec::new(),
    };
    if let Some(deleted) = parts.next() {
        let deleted: Vec<String> =
            redis::from_redis_value(deleted).map_err(|e| Error::Redis(e.into()))?;
        entries.extend(deleted.into_iter().map(|id| (id, None)));
    }
    Ok((next, entries))
}

/// Parses a list of entries: `[[id, [field, value, ..] | {field: value} | nil] | nil, ..]`.
fn parse_entries(entries: Value) -> Result<Vec<Entry>, Error> {
    let Value::Array(entries) = entries else {
        return Err(unexpected("entries", &entries));
    };
    let mut out = Vec::with_capacity(entries.len());
    for entry in entries {
        let mut parts = match entry {
            // Redis 6.2's XAUTOCLAIM: an entry deleted while pending.
            Value::Nil => continue,
            Value::Array(parts) if parts.len() >= 2 => parts,
            other => return Err(unexpected("entry", &other)),
        };
        let fields = parts.swap_remove(1);
        let id: String =
            redis::from_redis_value(parts.swap_remove(0)).map_err(|e| Error::Redis(e.into()))?;
        let fields = match fields {
            Value::Nil => None,
            Value::Array(flat) => {
                let mut pairs = Vec::with_capacity(flat.len() / 2);
                let mut flat = flat.into_iter();
                while let (Some(name), Some(value)) = (flat.next(), flat.next()) {
                    pairs.push((bytes(name)?, bytes(value)?));
                }
                Some(pairs)
            }
            Value::Map(map) => Some(
                map.into_iter()
                    .map(|(name, value)| Ok((bytes(name)?, bytes(value)?)))
                    .collect::<Result<_, Error>>()?,
            ),
            other => return Err(unexpected("fields", &other)),
        };
        out.push((id, fields));
    }
    Ok(out)
}

fn bytes(value: Value) -> Result<Vec<u8>, Error> {
    redis::from_redis_value(value).map_err(|e| Error::Redis(e.into()))
}

fn unexpected(what: &'static str, value: &Value) -> Error {
    let detail = format!("{value:?}").chars().take(100).collect::<String>();
    Error::Redis(redis::RedisError::from((
        redis::ErrorKind::UnexpectedReturnType,
        "unexpected stream reply",
        format!("{what}: {detail}"),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(list: &[(&str, &str)]) -> Vec<(Vec<u8>, Vec<u8>)> {
        list.iter()
            .map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn fields_are_read_once_each_and_nothing_else() {
        let ok = fields(&[("envelope", "{}"), ("kid", "k"), ("sig", "s")]);
        let signed = read_fields(&ok).unwrap();
        assert_eq!(signed.envelope, Some(&b"{}"[..]));
        assert_eq!(signed.key_id, Some(&b"k"[..]));
        assert_eq!(signed.tag, Some(&b"s"[..]));
        let only_envelope = fields(&[("envelope", "{}")]);
        let partial = read_fields(&only_envelope).unwrap();
        assert_eq!((partial.key_id, partial.tag), (None, None));

        for name in ["envelope", "kid", "sig"] {
            let mut twice = ok.clone();
            twice.push((name.as_bytes().to_vec(), b"again".to_vec()));
            let (reason, detail) = read_fields(&twice).err().unwrap();
            assert_eq!(reason, DeadLetterReason::DuplicateField);
            assert!(detail.contains(name), "{detail}");
        }
        let mut extra = ok.clone();
        extra.insert(0, (b"tenant_id".to_vec(), b"globex".to_vec()));
        let (reason, _) = read_fields(&extra).err().unwrap();
        assert_eq!(reason, DeadLetterReason::MalformedEnvelope);
        // A duplicate wins over an unexpected field; hostile names stay short.
        let mut both = extra.clone();
        both.push((b"sig".to_vec(), b"x".to_vec()));
        assert_eq!(
            read_fields(&both).err().unwrap().0,
            DeadLetterReason::DuplicateField
        );
        let long = vec![(vec![0xff; 10_000], vec![])];
        assert!(read_fields(&long).err().unwrap().1.len() < 300);
    }

    #[test]
    fn entry_ids_give_their_time() {
        assert_eq!(entry_millis("1764100000000-3"), Some(1_764_100_000_000));
        assert_eq!(entry_millis("garbage"), None);
        assert_eq!(entry_millis("-1"), None);
    }

    #[test]
    fn replies_of_every_shape_parse_or_fail_without_panicking() {
        let bulk = |s: &str| Value::BulkString(s.as_bytes().to_vec());
        let entry = Value::Array(vec![
            bulk("1-1"),
            Value::Array(vec![bulk("envelope"), bulk("{}"), bulk("odd")]),
        ]);
        let reply = Value::Array(vec![
            bulk("0-0"),
            Value::Array(vec![
                entry,
                Value::Nil,
                Value::Array(vec![bulk("2-1"), Value::Nil]),
            ]),
            Value::Array(vec![bulk("3-1")]),
        ]);
        let (next, entries) = parse_autoclaim_reply(reply).unwrap();
        assert_eq!(next, "0-0");
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[0].1.as_ref().unwrap().len(), 1);
        assert!(entries[1].1.is_none() && entries[2].1.is_none());

        for garbage in [
            Value::Nil,
            Value::Int(1),
            Value::Array(vec![]),
            Value::Array(vec![bulk("0-0")]),
            Value::Array(vec![bulk("0-0"), Value::Int(3)]),
            Value::Array(vec![bulk("0-0"), Value::Array(vec![Value::Int(3)])]),
            Value::Array(vec![bulk("0-0"), Value::Array(vec![]), Value::Int(1)]),
        ] {
            assert!(parse_autoclaim_reply(garbage).is_err());
        }
        for garbage in [
            Value::Int(1),
            Value::Array(vec![Value::Int(1)]),
            Value::Array(vec![Value::Array(vec![bulk("s"), Value::Int(2)])]),
        ] {
            assert!(parse_read_reply(garbage).is_err());
        }
        assert!(parse_read_reply(Value::Nil).unwrap().is_empty());
    }
}
