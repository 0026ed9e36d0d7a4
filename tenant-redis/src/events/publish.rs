//! Signing and publishing: [`EventStream`].

use std::fmt;
use std::sync::Arc;

use redis::aio::ConnectionLike;
use serde::Serialize;

use crate::Error;
use crate::signing::{EnvelopeSigning as _, SigningKeys, encode_tag};

use super::consume::EventConsumer;
use super::{DEAD_LETTER_SUFFIX, ENVELOPE_FIELD, KEY_ID_FIELD, SIGNATURE_FIELD, TenantEvent};

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
        EventConsumer::new(
            self.conn.clone(),
            self.stream.clone(),
            self.dead_letter_name(),
            group.into(),
            consumer.into(),
            Arc::clone(&self.keys),
        )
    }
}
