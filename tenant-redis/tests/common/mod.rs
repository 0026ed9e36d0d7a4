//! What the Redis tests share: the connection to `REDIS_URL`, the streams' signing keys, a
//! signature computed from the wire format's description, and a registry of four tenants.

// Each test binary uses its own part of this module.
#![allow(dead_code)]

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use redis::aio::MultiplexedConnection;
use tenant::redis::SigningKeys;
use tenant::{InMemoryRegistry, Plan, SchemaName};
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
        created_at: now,
        updated_at: now,
    });
    InMemoryRegistry::new(tenants).unwrap()
}
