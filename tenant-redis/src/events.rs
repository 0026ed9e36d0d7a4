//! Events that carry their tenant: [`TenantEvent`], an envelope only a [`TenantCtx`] produces,
//! published to a Redis stream by [`EventStream`] and consumed by an [`EventConsumer`] that checks
//! the tenant against a [`TenantRegistry`] before a handler sees the event.
//!
//! # Wire format
//!
//! Each stream entry has one field, `envelope`, holding JSON:
//!
//! ```json
//! {"tenant_id":"acme","event_id":"<uuid v4>","occurred_at_ms":1764100000000,"payload":{..}}
//! ```
//!
//! `occurred_at_ms` is milliseconds since the Unix epoch. Unknown fields are refused.
//!
//! # Delivery
//!
//! The consumer reads with `XREADGROUP` in a consumer group (created idempotently, with
//! `MKSTREAM`). For each entry it parses the envelope, looks the tenant up, and:
//! - hands a valid event of an active tenant to the handler as `(TenantCtx, payload)`, and
//!   acknowledges it (`XACK`) only once the handler succeeded. A failing handler leaves the
//!   entry pending; a consumer that starts (or [`rewind`](EventConsumer::rewind)s) first reads
//!   its own pending entries (`XREADGROUP .. 0`), then new ones (`>`), so nothing is lost.
//! - moves anything else — no or malformed envelope, a payload of another shape, an unknown or
//!   inactive tenant — to the dead-letter stream `<stream>:dead` with a `reason` field, and
//!   acknowledges it, with a `tracing` warning carrying the reason. Such an entry never reaches
//!   the handler and is never given a default tenant.
//! - leaves the entry pending when the registry itself fails (a transient error).

use std::fmt;
use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::Value;
use redis::aio::ConnectionLike;
use serde::Serialize;
use serde::de::DeserializeOwned;

use tenant_core::registry::{from_unix_millis, to_unix_millis};
use tenant_core::{TenantCtx, TenantId, TenantRegistry};

use crate::Error;

/// The stream field holding the JSON envelope.
pub const ENVELOPE_FIELD: &str = "envelope";

/// The suffix of the dead-letter stream: `<stream>:dead`.
pub const DEAD_LETTER_SUFFIX: &str = ":dead";

/// How many entries one read asks for, unless [`EventConsumer::batch`] says otherwise.
const DEFAULT_BATCH: usize = 64;

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
    #[allow(dead_code)]
    occurred_at_ms: u64,
    payload: T,
}

/// Why an entry went to the dead-letter stream: the `reason` field there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeadLetterReason {
    /// No `envelope` field, not JSON, a missing or invalid field, or a payload of another shape.
    MalformedEnvelope,
    /// The registry does not know the envelope's tenant.
    UnknownTenant,
    /// The envelope's tenant exists but is not active.
    InactiveTenant,
}

impl DeadLetterReason {
    /// The `reason` field's value: `malformed_envelope`, `unknown_tenant`, `inactive_tenant`.
    pub fn as_str(self) -> &'static str {
        match self {
            DeadLetterReason::MalformedEnvelope => "malformed_envelope",
            DeadLetterReason::UnknownTenant => "unknown_tenant",
            DeadLetterReason::InactiveTenant => "inactive_tenant",
        }
    }
}

impl fmt::Display for DeadLetterReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A Redis stream of [`TenantEvent`]s: publishes them and makes consumers for it.
///
/// ```no_run
/// use tenant::InMemoryRegistry;
/// use tenant::redis::{EventStream, TenantEvent};
/// use tenant::{Plan, TenantCtx};
///
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct InvoicePaid { invoice: u64 }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let client = redis::Client::open("redis://127.0.0.1/")?;
/// let stream = EventStream::new(client.get_multiplexed_async_connection().await?, "invoices");
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
}

impl<C> fmt::Debug for EventStream<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventStream")
            .field("stream", &self.stream)
            .finish_non_exhaustive()
    }
}

impl<C: ConnectionLike + Clone + Send + Sync> EventStream<C> {
    /// The stream `stream` over `conn`.
    pub fn new(conn: C, stream: impl Into<String>) -> Self {
        EventStream {
            conn,
            stream: stream.into(),
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

    /// Appends `event` (`XADD <stream> * envelope <json>`) and returns the entry id.
    pub async fn publish<T: Serialize>(&self, event: &TenantEvent<T>) -> Result<String, Error> {
        let json = serde_json::to_string(event).map_err(Error::EventEncoding)?;
        let mut conn = self.conn.clone();
        Ok(redis::cmd("XADD")
            .arg(&self.stream)
            .arg("*")
            .arg(ENVELOPE_FIELD)
            .arg(json)
            .query_async(&mut conn)
            .await?)
    }

    /// A consumer named `consumer` in the consumer group `group`. It starts by reading its own
    /// pending entries. Give a consumer that [blocks](EventConsumer::block) a connection of its
    /// own: a blocking read holds a multiplexed connection for its duration.
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
            batch: DEFAULT_BATCH,
            block: None,
            pending_cursor: Some("0".to_owned()),
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
}

impl PollReport {
    /// Whether the read returned no entry at all.
    pub fn is_empty(&self) -> bool {
        self.handled + self.dead_lettered + self.failed == 0
    }
}

/// A member of a consumer group of an [`EventStream`]; see the [module documentation](self) for
/// what happens to each entry.
pub struct EventConsumer<C> {
    conn: C,
    stream: String,
    dead: String,
    group: String,
    consumer: String,
    batch: usize,
    block: Option<Duration>,
    /// `Some(id)`: reading this consumer's pending entries after `id`; `None`: reading new ones.
    pending_cursor: Option<String>,
}

impl<C> fmt::Debug for EventConsumer<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventConsumer")
            .field("stream", &self.stream)
            .field("group", &self.group)
            .field("consumer", &self.consumer)
            .field("batch", &self.batch)
            .field("block", &self.block)
            .field("pending_cursor", &self.pending_cursor)
            .finish_non_exhaustive()
    }
}

/// One entry as read: its id and fields (`None` when the entry was deleted while pending).
type Entry = (String, Option<Vec<(Vec<u8>, Vec<u8>)>>);

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

    /// Reads this consumer's pending entries again from the start, before new ones: what a
    /// restarted consumer does, and a way to retry failed entries without restarting.
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

    /// Reads one batch — this consumer's pending entries first, then new ones — and processes
    /// every entry in it. An empty report means there was nothing to read.
    ///
    /// `handler` receives the checked tenant's context and the payload; an `Err` leaves the
    /// entry pending for a retry and is logged with `tracing`.
    pub async fn poll<R, T, H, Fut, E>(
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
        let entries = loop {
            let reading_pending = self.pending_cursor.is_some();
            let entries = self.read().await?;
            match (&mut self.pending_cursor, entries.last()) {
                // Pending entries come in id order: continue after the last one next time.
                (Some(cursor), Some((last, _))) => cursor.clone_from(last),
                // No pending entry left: from now on, new ones.
                (Some(_), None) => self.pending_cursor = None,
                (None, _) => {}
            }
            if !entries.is_empty() || !reading_pending {
                break entries;
            }
        };
        for (id, fields) in entries {
            match self.process(registry, &mut handler, &id, fields).await? {
                Outcome::Handled => report.handled += 1,
                Outcome::DeadLettered => report.dead_lettered += 1,
                Outcome::Failed => report.failed += 1,
            }
        }
        Ok(report)
    }

    async fn read(&self) -> Result<Vec<Entry>, Error> {
        let mut cmd = redis::cmd("XREADGROUP");
        cmd.arg("GROUP")
            .arg(&self.group)
            .arg(&self.consumer)
            .arg("COUNT")
            .arg(self.batch);
        let id = match &self.pending_cursor {
            Some(cursor) => cursor.as_str(),
            None => {
                if let Some(wait) = self.block {
                    cmd.arg("BLOCK")
                        .arg(u64::try_from(wait.as_millis()).unwrap_or(u64::MAX));
                }
                ">"
            }
        };
        cmd.arg("STREAMS").arg(&self.stream).arg(id);
        let mut conn = self.conn.clone();
        let reply: Value = cmd.query_async(&mut conn).await?;
        parse_read_reply(reply)
    }

    async fn process<R, T, H, Fut, E>(
        &self,
        registry: &R,
        handler: &mut H,
        id: &str,
        fields: Option<Vec<(Vec<u8>, Vec<u8>)>>,
    ) -> Result<Outcome, Error>
    where
        R: TenantRegistry,
        T: DeserializeOwned,
        H: FnMut(TenantCtx, T) -> Fut,
        Fut: Future<Output = Result<(), E>>,
        E: fmt::Display,
    {
        let raw = fields.as_ref().and_then(|fields| {
            fields
                .iter()
                .find(|(name, _)| name == ENVELOPE_FIELD.as_bytes())
                .map(|(_, value)| value.as_slice())
        });
        let Some(raw) = raw else {
            let detail = if fields.is_none() {
                "the entry was deleted while pending"
            } else {
                "no envelope field"
            };
            return self
                .dead_letter(id, raw, DeadLetterReason::MalformedEnvelope, detail, None)
                .await;
        };
        let envelope: ReceivedEnvelope<T> = match serde_json::from_slice(raw) {
            Ok(envelope) => envelope,
            Err(error) => {
                let detail = error.to_string();
                return self
                    .dead_letter(
                        id,
                        Some(raw),
                        DeadLetterReason::MalformedEnvelope,
                        &detail,
                        None,
                    )
                    .await;
            }
        };
        let tenant = match registry.find_by_id(&envelope.tenant_id).await {
            Ok(Some(tenant)) => tenant,
            Ok(None) => {
                return self
                    .dead_letter(
                        id,
                        Some(raw),
                        DeadLetterReason::UnknownTenant,
                        "no such tenant in the registry",
                        Some(&envelope.tenant_id),
                    )
                    .await;
            }
            Err(error) => {
                tracing::warn!(
                    stream = %self.stream,
                    entry_id = %id,
                    tenant_id = %envelope.tenant_id,
                    error = %error,
                    "tenant lookup failed; event left pending for a retry"
                );
                return Ok(Outcome::Failed);
            }
        };
        if !tenant.is_active {
            return self
                .dead_letter(
                    id,
                    Some(raw),
                    DeadLetterReason::InactiveTenant,
                    "the tenant is not active",
                    Some(&envelope.tenant_id),
                )
                .await;
        }
        let ctx = TenantCtx::trusted(tenant.id, tenant.schema_name, tenant.plan);
        match handler(ctx, envelope.payload).await {
            Ok(()) => {
                self.ack(id).await?;
                Ok(Outcome::Handled)
            }
            Err(error) => {
                tracing::warn!(
                    stream = %self.stream,
                    entry_id = %id,
                    tenant_id = %envelope.tenant_id,
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

    /// Copies the entry to the dead-letter stream with its reason and acknowledges it, in one
    /// `MULTI`/`EXEC`, so it is neither lost nor left pending.
    async fn dead_letter(
        &self,
        id: &str,
        raw: Option<&[u8]>,
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
        if let Some(raw) = raw {
            xadd.arg(ENVELOPE_FIELD).arg(raw);
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
        let Value::Array(entries) = entries else {
            return Err(unexpected("entries", &entries));
        };
        for entry in entries {
            let Value::Array(mut parts) = entry else {
                return Err(unexpected("entry", &entry));
            };
            if parts.len() < 2 {
                return Err(unexpected("entry", &Value::Array(parts)));
            }
            let fields = parts.swap_remove(1);
            let id: String = redis::from_redis_value(parts.swap_remove(0))
                .map_err(|e| Error::Redis(e.into()))?;
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
        "unexpected XREADGROUP reply",
        format!("{what}: {detail}"),
    )))
}
