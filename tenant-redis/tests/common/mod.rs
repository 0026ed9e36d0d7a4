//! What the Redis tests share: the connection to `REDIS_URL`, the streams' signing keys, a
//! signature computed from the wire format's description, a registry of four tenants and their
//! contexts, and what the tests read and write on a stream by hand (entries, pending counts,
//! dead letters).

// Each test binary uses its own part of this module.
#![allow(dead_code)]

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use redis::ToRedisArgs;
use redis::aio::{ConnectionLike, MultiplexedConnection};
use serde::de::DeserializeOwned;
use tenant::redis::{EventStream, SigningKeys};
use tenant::{InMemoryRegistry, Plan, SchemaName, TenantCtx};
use tenant_test_support as support;

/// A connection to `REDIS_URL`, or `None` (with a notice) when it is unset outside CI.
pub(crate) async fn redis(test: &str) -> Option<MultiplexedConnection> {
    let url = support::server_var("REDIS_URL", test)?;
    let client = redis::Client::open(url.as_str()).expect("REDIS_URL is a Redis URL");
    // A batch of hundreds of entries on a machine busy with other test binaries can take longer
    // than the client's default half-second to answer; that is not what is tested here.
    let config =
        redis::AsyncConnectionConfig::new().set_response_timeout(Some(Duration::from_secs(30)));
    Some(
        client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .expect("connect to REDIS_URL"),
    )
}

/// The current signing key of the tests' streams, and an older one.
pub(crate) const KEY1: &str = "tlL9C3QBIVlBWxotkSiN2fBkFH9h2Y3eQ+jLNdhOimU=";
pub(crate) const KEY0: &str = "CHVy3WLS7Q2X4MTqpt0wM8KN9SCtiAT2Oly1I8umyJI=";

/// The keys of the tests' streams: `kid1`, [`KEY1`].
pub(crate) fn keys() -> SigningKeys {
    format!("kid1:{KEY1}").parse().unwrap()
}

/// The `sig` of `envelope` in `stream` under `key` named `kid`, computed here from the wire
/// format's description rather than by the crate.
pub(crate) fn sign(stream: &str, kid: &str, key: &str, envelope: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&BASE64.decode(key).unwrap()).unwrap();
    mac.update(b"tenant-redis/event/v1\0");
    mac.update(&(stream.len() as u64).to_be_bytes());
    mac.update(stream.as_bytes());
    mac.update(&(kid.len() as u64).to_be_bytes());
    mac.update(kid.as_bytes());
    mac.update(envelope);
    BASE64.encode(mac.finalize().into_bytes())
}

/// Active `acme`, `acme-corp` and `globex`; inactive `dormant`.
pub(crate) fn registry() -> InMemoryRegistry {
    let now = SystemTime::now();
    let mut tenants: Vec<tenant::Tenant> = ["acme", "acme-corp", "globex"]
        .into_iter()
        .map(|id| tenant::Tenant {
            id: id.parse().unwrap(),
            slug: id.parse().unwrap(),
            name: id.to_owned(),
            plan: Plan::Pro,
            schema_name: format!("tenant_{}", id.replace('-', "_"))
                .parse::<SchemaName>()
                .unwrap(),
            is_active: true,
            limits: None,
            placement: Default::default(),
            created_at: now,
            updated_at: now,
        })
        .collect();
    tenants.push(tenant::Tenant {
        id: "dormant".parse().unwrap(),
        slug: "dormant".parse().unwrap(),
        name: "Dormant".to_owned(),
        plan: Plan::Free,
        schema_name: "tenant_dormant".parse().unwrap(),
        is_active: false,
        limits: None,
        placement: Default::default(),
        created_at: now,
        updated_at: now,
    });
    InMemoryRegistry::new(tenants).unwrap()
}

/// A context of `id` (on the free plan), as the code that publishes its events holds.
pub(crate) fn ctx(id: &str) -> TenantCtx {
    support::ctx(id, Plan::Free)
}

/// `what` and a fresh suffix: a stream or namespace no other test (or run) uses.
pub(crate) fn unique(what: &str) -> String {
    format!("{what}-{}", uuid::Uuid::new_v4().simple())
}

/// `XADD <stream> * <fields>`, written by hand, as anyone with write access to the stream can.
pub(crate) fn xadd_cmd<N: ToRedisArgs, V: ToRedisArgs>(
    stream: &str,
    fields: &[(N, V)],
) -> redis::Cmd {
    let mut xadd = redis::cmd("XADD");
    xadd.arg(stream).arg("*");
    for (name, value) in fields {
        xadd.arg(name).arg(value);
    }
    xadd
}

/// Runs [`xadd_cmd`]; returns the entry's id.
pub(crate) async fn xadd<C, N, V>(conn: &C, stream: &str, fields: &[(N, V)]) -> String
where
    C: ConnectionLike + Clone + Send,
    N: ToRedisArgs,
    V: ToRedisArgs,
{
    xadd_cmd(stream, fields)
        .query_async(&mut conn.clone())
        .await
        .unwrap()
}

/// How many entries of `stream` are pending in the consumer group `group` (`XPENDING`).
pub(crate) async fn pending<C>(conn: &C, stream: &str, group: &str) -> u64
where
    C: ConnectionLike + Clone + Send,
{
    let (count, ..): (u64, redis::Value, redis::Value, redis::Value) = redis::cmd("XPENDING")
        .arg(stream)
        .arg(group)
        .query_async(&mut conn.clone())
        .await
        .unwrap();
    count
}

/// An entry of a dead-letter stream, as the consumer writes it.
#[derive(Debug)]
pub(crate) struct DeadLetter {
    /// The id of the entry it came from.
    pub(crate) source_id: String,
    pub(crate) reason: String,
    pub(crate) detail: String,
    /// The dead entry's `envelope` field, when it had one the consumer could read.
    pub(crate) envelope: Option<Vec<u8>>,
}

impl DeadLetter {
    /// The payload of the dead entry's envelope.
    pub(crate) fn payload<T: DeserializeOwned>(&self) -> T {
        let envelope = self
            .envelope
            .as_ref()
            .expect("a dead letter with its envelope");
        let envelope: serde_json::Value = serde_json::from_slice(envelope).unwrap();
        serde_json::from_value(envelope["payload"].clone()).unwrap()
    }
}

/// Every entry of `stream`'s dead-letter stream, oldest first (read in pages: the fuzz test's
/// may hold a hundred thousand). Each must have its source id, reason and detail.
pub(crate) async fn dead_letters<C>(conn: &C, stream: &EventStream<C>) -> Vec<DeadLetter>
where
    C: ConnectionLike + Clone + Send + Sync,
{
    let mut dead = Vec::new();
    let mut from = "-".to_owned();
    loop {
        let page: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
            .arg(stream.dead_letter_name())
            .arg(&from)
            .arg("+")
            .arg("COUNT")
            .arg(10_000)
            .query_async(&mut conn.clone())
            .await
            .unwrap();
        let Some(last) = page.ids.last() else {
            return dead;
        };
        from = format!("({}", last.id);
        dead.extend(page.ids.iter().map(|entry| {
            DeadLetter {
                source_id: entry
                    .get("source_id")
                    .expect("a dead letter has its source id"),
                reason: entry.get("reason").expect("a dead letter has a reason"),
                detail: entry.get("detail").expect("a dead letter has a detail"),
                envelope: entry.get("envelope"),
            }
        }));
    }
}

/// [`dead_letters`] by the id of the entry each came from.
pub(crate) async fn dead_letters_by_source<C>(
    conn: &C,
    stream: &EventStream<C>,
) -> HashMap<String, DeadLetter>
where
    C: ConnectionLike + Clone + Send + Sync,
{
    dead_letters(conn, stream)
        .await
        .into_iter()
        .map(|dead| (dead.source_id.clone(), dead))
        .collect()
}
