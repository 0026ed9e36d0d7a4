//! Events that carry their tenant: [`TenantEvent`], an envelope only a [`TenantCtx`] produces,
//! signed and published to a Redis stream by [`EventStream`], and consumed by an
//! [`EventConsumer`] that verifies the signature, then checks the tenant against a
//! [`TenantRegistry`](tenant_core::TenantRegistry), before a handler sees the event.
//!
//! # Wire format
//!
//! Each stream entry has exactly three fields:
//!
//! | field | value |
//! |---|---|
//! | `envelope` | JSON: `{"tenant_id":"acme","event_id":"<uuid v4>","occurred_at_ms":1764100000000,"payload":{..}}` |
//! | `kid` | the id of the key that signed it (see [`SigningKeys`](crate::SigningKeys)) |
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
//! [`takeover_idle`](EventConsumer::takeover_idle), then reads new entries (`>`). Entries left pending
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
//! retried at once, not after `takeover_idle`.
//!
//! Delivery is at least once: a handler still running after `takeover_idle` may see its event
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
//! made while Redis is away fail with [`Error::Redis`](crate::Error::Redis), and a publish that failed may or may not
//! have been appended. What Redis acknowledged survives its restart only if it persists it:
//! `appendonly yes` with `appendfsync always` keeps every acknowledged entry, acknowledgement and
//! consumer group across a crash, of the server process or of the machine.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use tenant_core::registry::{from_unix_millis, to_unix_millis};
use tenant_core::{TenantCtx, TenantId};

mod check;
mod consume;
mod publish;
mod reply;

pub use check::DeadLetterReason;
pub use consume::{
    DEFAULT_MAX_DELIVERIES, DEFAULT_TAKEOVER_IDLE, DEFAULT_UNKNOWN_TENANT_GRACE, EventConsumer,
    PollReport,
};
pub use publish::EventStream;

/// The stream field holding the JSON envelope.
pub const ENVELOPE_FIELD: &str = "envelope";

/// The stream field holding the id of the key that signed the envelope.
pub const KEY_ID_FIELD: &str = "kid";

/// The stream field holding the envelope's signature (base64 of the HMAC-SHA256 tag).
pub const SIGNATURE_FIELD: &str = "sig";

/// The suffix of the dead-letter stream: `<stream>:dead`.
pub const DEAD_LETTER_SUFFIX: &str = ":dead";

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
