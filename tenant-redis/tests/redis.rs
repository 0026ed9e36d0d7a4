//! Tenant-scoped keys, cache and events against a real Redis at `REDIS_URL` (`.ci/redis.sh`
//! starts one). Without `REDIS_URL` every test is skipped with a notice, except on CI (`CI` set),
//! where that is a failure. Every test works in its own namespace or streams, so they run in
//! parallel on one server.

mod common;

use common::{
    KEY0, KEY1, ctx, dead_letters, dead_letters_by_source, keys, pending, redis, registry, sign,
    unique, xadd,
};
use tenant_test_support as support;

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::{Future, ready};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use redis::aio::MultiplexedConnection;
use serde::{Deserialize, Serialize};
use tenant::TenancyConfig;
use tenant::redis::{EventStream, SigningKeys, TenantCache, TenantEvent};
use tenant::registry::CachedRegistry;
use tenant::{InMemoryRegistry, Tenant};
use tenant::{Plan, TenantCtx, TenantId, TenantRegistry};

async fn cache(conn: &MultiplexedConnection) -> (TenantCache<MultiplexedConnection>, String) {
    let namespace = unique("test");
    let cache = TenantCache::new(conn.clone())
        .with_namespace(&namespace)
        .unwrap();
    (cache, namespace)
}

async fn raw_exists(conn: &MultiplexedConnection, key: &str) -> bool {
    let mut conn = conn.clone();
    redis::cmd("EXISTS")
        .arg(key)
        .query_async::<u64>(&mut conn)
        .await
        .unwrap()
        > 0
}

#[tokio::test]
async fn cache_operations_are_scoped_to_the_tenant() {
    let Some(conn) = redis("cache_operations_are_scoped_to_the_tenant").await else {
        return;
    };
    let (cache, ns) = cache(&conn).await;
    let acme = ctx("acme");

    cache.set(&acme, "name", "Acme").await.unwrap();
    assert!(raw_exists(&conn, &format!("{ns}:t:4:acme:name")).await);
    assert_eq!(
        cache.get::<String>(&acme, "name").await.unwrap().as_deref(),
        Some("Acme")
    );
    assert_eq!(cache.get::<String>(&acme, "missing").await.unwrap(), None);
    assert!(cache.exists(&acme, "name").await.unwrap());

    assert_eq!(cache.incr(&acme, "hits", 1).await.unwrap(), 1);
    assert_eq!(cache.incr(&acme, "hits", 41).await.unwrap(), 42);
    assert_eq!(cache.get::<i64>(&acme, "hits").await.unwrap(), Some(42));

    cache
        .set_ex(&acme, "session", "s", Duration::from_millis(150))
        .await
        .unwrap();
    assert!(cache.exists(&acme, "session").await.unwrap());
    assert!(
        cache
            .expire(&acme, "name", Duration::from_millis(150))
            .await
            .unwrap()
    );
    assert!(
        !cache
            .expire(&acme, "missing", Duration::from_secs(1))
            .await
            .unwrap()
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(!cache.exists(&acme, "session").await.unwrap());
    assert!(!cache.exists(&acme, "name").await.unwrap());

    assert!(cache.del(&acme, "hits").await.unwrap());
    assert!(!cache.del(&acme, "hits").await.unwrap());
    assert!(matches!(
        cache.get::<String>(&acme, "").await,
        Err(tenant::redis::Error::Core(tenant::Error::EmptyScopedKey))
    ));

    for key in ["sessions:1", "sessions:2", "sessions:10", "users:1"] {
        cache.set(&acme, key, 1).await.unwrap();
    }
    assert_eq!(
        cache.scan(&acme, "sessions:").await.unwrap(),
        ["sessions:1", "sessions:10", "sessions:2"]
    );
    assert_eq!(cache.scan(&acme, "").await.unwrap().len(), 4);
}

#[tokio::test]
async fn scan_takes_the_prefix_literally() {
    let Some(conn) = redis("scan_takes_the_prefix_literally").await else {
        return;
    };
    let (cache, _) = cache(&conn).await;
    let acme = ctx("acme");
    for key in ["a*b", "axb", "a?c", "abc", "[x]", "x", "\\y", "\\\\y"] {
        cache.set(&acme, key, 1).await.unwrap();
    }
    assert_eq!(cache.scan(&acme, "a*").await.unwrap(), ["a*b"]);
    assert_eq!(cache.scan(&acme, "a?").await.unwrap(), ["a?c"]);
    assert_eq!(cache.scan(&acme, "[").await.unwrap(), ["[x]"]);
    assert_eq!(cache.scan(&acme, "[x]").await.unwrap(), ["[x]"]);
    assert_eq!(cache.scan(&acme, "\\").await.unwrap(), ["\\\\y", "\\y"]);
    assert_eq!(cache.scan(&acme, "*").await.unwrap(), Vec::<String>::new());
    assert_eq!(cache.scan(&acme, "").await.unwrap().len(), 8);
}

/// Tenants whose ids are prefixes of each other, and keys built to imitate another tenant's.
#[tokio::test]
async fn tenants_cannot_reach_each_others_keys() {
    let Some(conn) = redis("tenants_cannot_reach_each_others_keys").await else {
        return;
    };
    let (cache, ns) = cache(&conn).await;
    let tenants = ["acme", "acme-corp", "acme-c", "a", "t", "4"];
    let adversarial = [
        "*",
        "?",
        "[a-z]*",
        "\\",
        "../",
        "../acme-corp:secret",
        ":",
        "-corp:secret",
        "corp:secret",
        "t:9:acme-corp:secret",
        ":t:9:acme-corp:secret",
        "4:acme:secret",
        "secret",
    ];

    // Every tenant writes its own secret and counter, and one key named like each attack.
    for id in tenants {
        let c = ctx(id);
        cache
            .set(&c, "secret", format!("{id}-secret"))
            .await
            .unwrap();
        cache.set(&c, "counter", 100).await.unwrap();
    }

    for attacker in tenants {
        let a = ctx(attacker);
        for key in adversarial {
            // Reads see only the attacker's own data (or nothing).
            let got: Option<String> = cache.get(&a, key).await.unwrap();
            if let Some(value) = got {
                assert_eq!(
                    value,
                    format!("{attacker}-secret"),
                    "{attacker} read {key:?}"
                );
            }
            // Writes, increments and deletes land in the attacker's own keyspace.
            cache.incr(&a, &format!("{key}counter"), 1).await.unwrap();
            if key != "secret" {
                cache.del(&a, key).await.unwrap();
            }
        }
        // A scan never leaves the tenant: every key it returns is readable as the tenant's own.
        for prefix in ["", "*", "?", "[", "-", ":", "../", "t:", "secret"] {
            for key in cache.scan(&a, prefix).await.unwrap() {
                assert!(
                    key.starts_with(prefix),
                    "{attacker}: {key:?} for {prefix:?}"
                );
                assert!(cache.exists(&a, &key).await.unwrap(), "{attacker}: {key:?}");
            }
        }
        let all = cache.scan(&a, "").await.unwrap();
        assert!(all.contains(&"secret".to_owned()));
        assert!(all.contains(&"counter".to_owned()));
    }

    // Nothing any tenant did touched another's secret or counter.
    for id in tenants {
        let c = ctx(id);
        assert_eq!(
            cache.get::<String>(&c, "secret").await.unwrap(),
            Some(format!("{id}-secret")),
            "{id}"
        );
        assert_eq!(
            cache.get::<i64>(&c, "counter").await.unwrap(),
            Some(100),
            "{id}"
        );
        let mine = cache.scan(&c, "").await.unwrap();
        // secret, counter, and one counter per adversarial key.
        assert_eq!(mine.len(), 2 + adversarial.len(), "{id}: {mine:?}");
    }
    // The prefix relation of ids does not leak through scans either.
    let acme = cache.scan(&ctx("acme"), "").await.unwrap();
    let corp = cache.scan(&ctx("acme-corp"), "").await.unwrap();
    assert_eq!(acme, corp, "same relative keys, separate keyspaces");
    assert!(raw_exists(&conn, &format!("{ns}:t:9:acme-corp:secret")).await);
    assert!(raw_exists(&conn, &format!("{ns}:t:4:acme:-corp:secretcounter")).await);
}

/// Without a namespace the Redis key is exactly `ScopedKey::as_str`, and a `ScopedKey` is an
/// argument for raw commands.
#[tokio::test]
async fn scoped_keys_are_the_redis_keys_without_a_namespace() {
    let Some(conn) = redis("scoped_keys_are_the_redis_keys_without_a_namespace").await else {
        return;
    };
    // A tenant of its own, as there is no namespace to keep parallel tests apart.
    let tenant = ctx(&unique("t"));
    let key = tenant.scoped_key("raw:1").unwrap();
    let mut raw = conn.clone();
    redis::cmd("SET")
        .arg(&key)
        .arg("v")
        .query_async::<()>(&mut raw)
        .await
        .unwrap();
    let cache = TenantCache::new(conn.clone());
    assert_eq!(cache.redis_key(&tenant, "raw:1").unwrap(), key.as_str());
    assert_eq!(
        cache
            .get::<String>(&tenant, "raw:1")
            .await
            .unwrap()
            .as_deref(),
        Some("v")
    );
    // Written past the cache, the key is not in the tenant's index until a reindex.
    assert_eq!(cache.scan(&tenant, "").await.unwrap(), Vec::<String>::new());
    assert_eq!(cache.reindex(&tenant).await.unwrap(), 1);
    assert_eq!(cache.scan(&tenant, "").await.unwrap(), ["raw:1"]);
    assert!(cache.del(&tenant, "raw:1").await.unwrap());
    assert_eq!(cache.scan(&tenant, "").await.unwrap(), Vec::<String>::new());
}

#[tokio::test]
async fn namespaces_separate_caches() {
    let Some(conn) = redis("namespaces_separate_caches").await else {
        return;
    };
    let (one, _) = cache(&conn).await;
    let (two, _) = cache(&conn).await;
    let acme = ctx("acme");
    one.set(&acme, "k", "one").await.unwrap();
    assert_eq!(two.get::<String>(&acme, "k").await.unwrap(), None);
    assert!(two.scan(&acme, "").await.unwrap().is_empty());
    for bad in ["", "a:b", "a b", "a*", &"n".repeat(65)] {
        assert!(matches!(
            TenantCache::new(conn.clone()).with_namespace(bad),
            Err(tenant::redis::Error::InvalidNamespace)
        ));
    }
}

#[tokio::test]
async fn single_tenant_mode_uses_the_default_tenant() {
    let Some(conn) = redis("single_tenant_mode_uses_the_default_tenant").await else {
        return;
    };
    let config = TenancyConfig::single_tenant("main".parse().unwrap());
    let registry = InMemoryRegistry::from_ids(config.default_tenant().cloned()).unwrap();
    let tenant = registry
        .find_by_id(config.default_tenant().unwrap())
        .await
        .unwrap()
        .unwrap();
    let main = TenantCtx::trusted(tenant.id, tenant.schema_name, tenant.plan);

    let (cache, ns) = cache(&conn).await;
    cache.set(&main, "greeting", "hello").await.unwrap();
    assert_eq!(
        cache
            .get::<String>(&main, "greeting")
            .await
            .unwrap()
            .as_deref(),
        Some("hello")
    );
    assert_eq!(cache.scan(&main, "").await.unwrap(), ["greeting"]);
    assert!(raw_exists(&conn, &format!("{ns}:t:4:main:greeting")).await);
    assert_eq!(main.collection("docs").unwrap().as_str(), "t4_main_docs");

    // Events of the default tenant flow like any other's.
    let stream = events(&conn);
    stream
        .publish(&TenantEvent::new(&main, Paid { invoice: 1 }))
        .await
        .unwrap();
    let mut consumer = stream.consumer("g", "c1");
    consumer.ensure_group().await.unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let report = consumer.poll(&registry, record(&seen, None)).await.unwrap();
    assert_eq!(report.handled, 1);
    assert_eq!(*seen.lock().unwrap(), [("main".to_owned(), 1)]);
}

// --- events -------------------------------------------------------------------------------

/// A stream of its own, signed with `kid1`.
fn events(conn: &MultiplexedConnection) -> EventStream<MultiplexedConnection> {
    EventStream::new(conn.clone(), unique("events"), keys())
}

/// `envelope` as the crate's producer would add it: signed with `kid1`.
async fn xadd_signed(conn: &MultiplexedConnection, stream: &str, envelope: &str) -> String {
    let sig = sign(stream, "kid1", KEY1, envelope.as_bytes());
    xadd(
        conn,
        stream,
        &[
            ("envelope", envelope.as_bytes()),
            ("kid", b"kid1"),
            ("sig", sig.as_bytes()),
        ],
    )
    .await
}

/// A registry that counts its lookups.
struct Counting<R>(R, AtomicUsize);

impl<R: TenantRegistry> TenantRegistry for Counting<R> {
    type Error = R::Error;

    fn find_by_id(
        &self,
        id: &TenantId,
    ) -> impl Future<Output = Result<Option<Tenant>, Self::Error>> + Send {
        self.1.fetch_add(1, Ordering::SeqCst);
        self.0.find_by_id(id)
    }

    fn find_by_slug(
        &self,
        slug: &TenantId,
    ) -> impl Future<Output = Result<Option<Tenant>, Self::Error>> + Send {
        self.1.fetch_add(1, Ordering::SeqCst);
        self.0.find_by_slug(slug)
    }
}

/// A registry that tenants can be added to while the consumer runs.
#[derive(Clone, Default)]
struct Growing(Arc<Mutex<Vec<Tenant>>>);

impl Growing {
    fn add(&self, id: &str) {
        let now = SystemTime::now();
        self.0.lock().unwrap().push(Tenant {
            id: id.parse().unwrap(),
            slug: id.parse().unwrap(),
            name: id.to_owned(),
            plan: Plan::Free,
            schema_name: format!("tenant_{id}").parse().unwrap(),
            is_active: true,
            limits: None,
            placement: Default::default(),
            created_at: now,
            updated_at: now,
        });
    }
}

impl TenantRegistry for Growing {
    type Error = Infallible;

    fn find_by_id(
        &self,
        id: &TenantId,
    ) -> impl Future<Output = Result<Option<Tenant>, Infallible>> + Send {
        ready(Ok(self
            .0
            .lock()
            .unwrap()
            .iter()
            .find(|t| &t.id == id)
            .cloned()))
    }

    fn find_by_slug(
        &self,
        slug: &TenantId,
    ) -> impl Future<Output = Result<Option<Tenant>, Infallible>> + Send {
        ready(Ok(self
            .0
            .lock()
            .unwrap()
            .iter()
            .find(|t| &t.slug == slug)
            .cloned()))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Paid {
    invoice: u64,
}

type Seen = Arc<Mutex<Vec<(String, u64)>>>;

/// A handler that records `(tenant, invoice)` and fails for invoice `fail_on`.
fn record(
    seen: &Seen,
    fail_on: Option<u64>,
) -> impl FnMut(TenantCtx, Paid) -> std::future::Ready<Result<(), String>> + use<> {
    let seen = Arc::clone(seen);
    move |ctx: TenantCtx, paid: Paid| {
        if Some(paid.invoice) == fail_on {
            return std::future::ready(Err(format!("invoice {} failed", paid.invoice)));
        }
        seen.lock()
            .unwrap()
            .push((ctx.tenant_id().to_string(), paid.invoice));
        std::future::ready(Ok(()))
    }
}

#[tokio::test]
async fn events_reach_the_handler_with_their_tenant_and_are_acked() {
    let Some(conn) = redis("events_reach_the_handler_with_their_tenant_and_are_acked").await else {
        return;
    };
    let stream = events(&conn);
    let mut consumer = stream.consumer("billing", "worker-1").batch(2);
    consumer.ensure_group().await.unwrap();
    consumer.ensure_group().await.unwrap(); // idempotent

    let sent = [
        ("acme", 1),
        ("acme-corp", 2),
        ("globex", 3),
        ("acme", 4),
        ("acme-corp", 5),
    ];
    for (id, invoice) in sent {
        let event = TenantEvent::new(&ctx(id), Paid { invoice });
        assert_eq!(event.tenant_id().as_str(), id);
        stream.publish(&event).await.unwrap();
    }

    let registry = registry();
    let seen: Seen = Arc::default();
    let mut total = 0;
    loop {
        let report = consumer.poll(&registry, record(&seen, None)).await.unwrap();
        if report.is_empty() {
            break;
        }
        assert_eq!((report.dead_lettered, report.failed), (0, 0));
        total += report.handled;
    }
    assert_eq!(total, 5);
    let expected: Vec<(String, u64)> = sent.iter().map(|(id, n)| (id.to_string(), *n)).collect();
    assert_eq!(*seen.lock().unwrap(), expected);
    assert_eq!(pending(&conn, stream.name(), "billing").await, 0);

    // The context handed over is the registry's, plan included.
    let plans = Arc::new(Mutex::new(Vec::new()));
    stream
        .publish(&TenantEvent::new(&ctx("globex"), Paid { invoice: 6 }))
        .await
        .unwrap();
    let sink = Arc::clone(&plans);
    consumer
        .poll(&registry, move |ctx: TenantCtx, _: Paid| {
            sink.lock().unwrap().push(ctx.plan().clone());
            async { Ok::<(), String>(()) }
        })
        .await
        .unwrap();
    assert_eq!(*plans.lock().unwrap(), [Plan::Pro]);
}

/// Envelopes of the wrong content, signed with a valid key (as a buggy producer could write
/// them), are dead-lettered with a reason.
#[tokio::test]
async fn tampered_envelopes_are_dead_lettered_with_a_reason() {
    let Some(conn) = redis("tampered_envelopes_are_dead_lettered_with_a_reason").await else {
        return;
    };
    let (logs, _guard) = support::capture_audit();
    let stream = events(&conn);
    // Unknown tenants are dead-lettered at once here; the grace period has its own test.
    let mut consumer = stream
        .consumer("billing", "worker-1")
        .unknown_tenant_grace(Duration::ZERO);
    consumer.ensure_group().await.unwrap();

    // A genuine envelope, to tamper with.
    let genuine =
        serde_json::to_value(TenantEvent::new(&ctx("acme"), Paid { invoice: 1 })).unwrap();
    let with = |field: &str, value: serde_json::Value| {
        let mut v = genuine.clone();
        v[field] = value;
        v.to_string()
    };
    let without = |field: &str| {
        let mut v = genuine.clone();
        v.as_object_mut().unwrap().remove(field);
        v.to_string()
    };
    let cases: Vec<(&str, Option<String>, &str)> = vec![
        (
            "unknown tenant",
            Some(with("tenant_id", "nobody".into())),
            "unknown_tenant",
        ),
        (
            "inactive tenant",
            Some(with("tenant_id", "dormant".into())),
            "inactive_tenant",
        ),
        (
            "invalid tenant id",
            Some(with("tenant_id", "ACME".into())),
            "malformed_envelope",
        ),
        (
            "tenant id not a string",
            Some(with("tenant_id", 7.into())),
            "malformed_envelope",
        ),
        (
            "null tenant",
            Some(with("tenant_id", serde_json::Value::Null)),
            "malformed_envelope",
        ),
        (
            "missing tenant",
            Some(without("tenant_id")),
            "malformed_envelope",
        ),
        (
            "missing event id",
            Some(without("event_id")),
            "malformed_envelope",
        ),
        (
            "missing time",
            Some(without("occurred_at_ms")),
            "malformed_envelope",
        ),
        (
            "missing payload",
            Some(without("payload")),
            "malformed_envelope",
        ),
        (
            "payload of another shape",
            Some(with("payload", "x".into())),
            "malformed_envelope",
        ),
        (
            "bad event id",
            Some(with("event_id", "not-a-uuid".into())),
            "malformed_envelope",
        ),
        (
            "extra field",
            Some(with("system", true.into())),
            "malformed_envelope",
        ),
        (
            "not JSON",
            Some("{\"tenant_id\":\"acme\",".to_owned()),
            "malformed_envelope",
        ),
        ("empty", Some(String::new()), "malformed_envelope"),
        (
            "tenant id twice",
            Some(format!(
                "{{\"tenant_id\":\"globex\",{}",
                &genuine.to_string()[1..]
            )),
            "malformed_envelope",
        ),
        ("no envelope field", None, "malformed_envelope"),
    ];
    let mut expected = std::collections::HashMap::new();
    for (name, envelope, reason) in &cases {
        let id = match envelope {
            Some(json) => xadd_signed(&conn, stream.name(), json).await,
            None => xadd(&conn, stream.name(), &[("tenant_id", b"acme")]).await,
        };
        expected.insert(id, (*name, *reason));
    }
    // One genuine event among them still goes through.
    stream
        .publish(&TenantEvent::new(&ctx("acme"), Paid { invoice: 2 }))
        .await
        .unwrap();

    let seen: Seen = Arc::default();
    let report = consumer
        .poll(&registry(), record(&seen, None))
        .await
        .unwrap();
    assert_eq!(
        (report.handled, report.dead_lettered, report.failed),
        (1, cases.len(), 0)
    );
    assert_eq!(*seen.lock().unwrap(), [("acme".to_owned(), 2)]);
    assert_eq!(pending(&conn, stream.name(), "billing").await, 0);

    let dead = dead_letters(&conn, &stream).await;
    assert_eq!(dead.len(), cases.len());
    for entry in &dead {
        let (name, want) = expected[&entry.source_id];
        assert_eq!(entry.reason, want, "{name}");
        assert!(!entry.detail.is_empty(), "{name}");
    }

    let logs = support::text(&logs);
    for reason in ["unknown_tenant", "inactive_tenant", "malformed_envelope"] {
        assert!(
            logs.contains(&format!("reason=\"{reason}\""))
                || logs.contains(&format!("reason={reason}")),
            "no warning with {reason} in:\n{logs}"
        );
    }
    assert!(logs.contains("WARN"), "{logs}");
}

#[tokio::test]
async fn a_failed_handler_leaves_the_event_pending_until_a_restart_succeeds() {
    let Some(conn) =
        redis("a_failed_handler_leaves_the_event_pending_until_a_restart_succeeds").await
    else {
        return;
    };
    let stream = events(&conn);
    let registry = registry();
    let seen: Seen = Arc::default();
    for invoice in [1, 2, 3] {
        stream
            .publish(&TenantEvent::new(&ctx("acme"), Paid { invoice }))
            .await
            .unwrap();
    }

    {
        let mut consumer = stream.consumer("billing", "worker-1");
        consumer.ensure_group().await.unwrap();
        let report = consumer
            .poll(&registry, record(&seen, Some(2)))
            .await
            .unwrap();
        assert_eq!((report.handled, report.failed), (2, 1));
        assert_eq!(pending(&conn, stream.name(), "billing").await, 1);
        // The same consumer moves on to new events; the failed one stays pending.
        stream
            .publish(&TenantEvent::new(&ctx("globex"), Paid { invoice: 4 }))
            .await
            .unwrap();
        let report = consumer
            .poll(&registry, record(&seen, Some(2)))
            .await
            .unwrap();
        assert_eq!((report.handled, report.failed), (1, 0));
        assert!(
            consumer
                .poll(&registry, record(&seen, Some(2)))
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(pending(&conn, stream.name(), "billing").await, 1);
        // Dropped here, as if the process died.
    }
    // Published while the consumer was down.
    stream
        .publish(&TenantEvent::new(&ctx("acme-corp"), Paid { invoice: 5 }))
        .await
        .unwrap();

    // Restarted, and still failing: the event stays pending, and new ones still flow.
    let mut consumer = stream.consumer("billing", "worker-1");
    consumer.ensure_group().await.unwrap();
    let report = consumer
        .poll(&registry, record(&seen, Some(2)))
        .await
        .unwrap();
    assert_eq!(
        (report.handled, report.failed),
        (0, 1),
        "pending entries come first"
    );
    let report = consumer
        .poll(&registry, record(&seen, Some(2)))
        .await
        .unwrap();
    assert_eq!((report.handled, report.failed), (1, 0));
    assert_eq!(pending(&conn, stream.name(), "billing").await, 1);

    // Restarted with the fix: the pending event is delivered first, then acked.
    let mut consumer = stream.consumer("billing", "worker-1");
    let report = consumer.poll(&registry, record(&seen, None)).await.unwrap();
    assert_eq!((report.handled, report.failed), (1, 0));
    assert!(
        consumer
            .poll(&registry, record(&seen, None))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(pending(&conn, stream.name(), "billing").await, 0);

    let seen = seen.lock().unwrap().clone();
    let invoices: Vec<u64> = seen.iter().map(|(_, n)| *n).collect();
    assert_eq!(
        invoices,
        [1, 3, 4, 5, 2],
        "each event handled exactly once, none lost"
    );
    assert_eq!(seen[4].0, "acme");

    // rewind() retries without a restart.
    stream
        .publish(&TenantEvent::new(&ctx("acme"), Paid { invoice: 6 }))
        .await
        .unwrap();
    let retried: Seen = Arc::default();
    let report = consumer
        .poll(&registry, record(&retried, Some(6)))
        .await
        .unwrap();
    assert_eq!(report.failed, 1);
    assert!(
        consumer
            .poll(&registry, record(&retried, None))
            .await
            .unwrap()
            .is_empty()
    );
    consumer.rewind();
    let report = consumer
        .poll(&registry, record(&retried, None))
        .await
        .unwrap();
    assert_eq!(report.handled, 1);
    assert_eq!(*retried.lock().unwrap(), [("acme".to_owned(), 6)]);
    assert_eq!(pending(&conn, stream.name(), "billing").await, 0);
}

#[test]
fn event_ids_are_unique_and_tenant_bound() {
    let acme = ctx("acme");
    let a = TenantEvent::new(&acme, ());
    let b = TenantEvent::new(&acme, ());
    assert_ne!(a.event_id(), b.event_id());
    let id: &TenantId = a.tenant_id();
    assert_eq!(id, acme.tenant_id());
    assert!(a.occurred_at() <= SystemTime::now());
}

// --- signatures, duplicate fields, grace, claims, poison events, scan bound -----------------

/// Entries anyone with write access to the stream can add by hand. None reaches the handler,
/// each is dead-lettered with its own reason, and none is looked up in the registry.
#[tokio::test]
async fn forged_envelopes_are_never_handled_nor_looked_up() {
    let Some(conn) = redis("forged_envelopes_are_never_handled_nor_looked_up").await else {
        return;
    };
    let stream = events(&conn);
    let name = stream.name().to_owned();
    let mut consumer = stream.consumer("billing", "worker-1");
    consumer.ensure_group().await.unwrap();

    // What the attacker has seen: a genuine, signed entry of acme.
    let acme = serde_json::to_string(&TenantEvent::new(&ctx("acme"), Paid { invoice: 1 })).unwrap();
    let acme_sig = sign(&name, "kid1", KEY1, acme.as_bytes());
    // What the attacker wants handled: an event of globex.
    let globex =
        serde_json::to_string(&TenantEvent::new(&ctx("globex"), Paid { invoice: 666 })).unwrap();
    let other_key = "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=";
    let other_stream_sig = sign("elsewhere", "kid1", KEY1, globex.as_bytes());
    let kid0_sig_as_kid1 = sign(&name, "kid0", KEY0, globex.as_bytes());
    let short_sig = BASE64.encode(&BASE64.decode(&acme_sig).unwrap()[..16]);
    let foreign_key_sig = sign(&name, "kid1", other_key, globex.as_bytes());
    let unknown_kid_sig = sign(&name, "kid9", other_key, globex.as_bytes());
    let g = globex.as_bytes();

    type Fields<'a> = Vec<(&'a str, &'a [u8])>;
    let cases: Vec<(&str, Fields, &str)> = vec![
        ("no signature", vec![("envelope", g)], "missing_signature"),
        (
            "a key id but no signature",
            vec![("envelope", g), ("kid", b"kid1")],
            "missing_signature",
        ),
        (
            "a signature but no key id",
            vec![("envelope", g), ("sig", acme_sig.as_bytes())],
            "missing_signature",
        ),
        (
            "another tenant's envelope under a valid signature of a different envelope",
            vec![
                ("envelope", g),
                ("kid", b"kid1"),
                ("sig", acme_sig.as_bytes()),
            ],
            "bad_signature",
        ),
        (
            "a random signature",
            vec![
                ("envelope", g),
                ("kid", b"kid1"),
                ("sig", b"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="),
            ],
            "bad_signature",
        ),
        (
            "a signature by a key the consumer does not have, under its key id",
            vec![
                ("envelope", g),
                ("kid", b"kid1"),
                ("sig", foreign_key_sig.as_bytes()),
            ],
            "bad_signature",
        ),
        (
            "a valid signature for another stream",
            vec![
                ("envelope", g),
                ("kid", b"kid1"),
                ("sig", other_stream_sig.as_bytes()),
            ],
            "bad_signature",
        ),
        (
            "signed as kid0, labelled kid1",
            vec![
                ("envelope", g),
                ("kid", b"kid1"),
                ("sig", kid0_sig_as_kid1.as_bytes()),
            ],
            "bad_signature",
        ),
        (
            "a truncated signature",
            vec![
                ("envelope", acme.as_bytes()),
                ("kid", b"kid1"),
                ("sig", short_sig.as_bytes()),
            ],
            "bad_signature",
        ),
        (
            "a signature that is not base64",
            vec![("envelope", g), ("kid", b"kid1"), ("sig", b"%%%")],
            "bad_signature",
        ),
        (
            "garbage under a signature",
            vec![
                ("envelope", b"\xff\x00{"),
                ("kid", b"kid1"),
                ("sig", acme_sig.as_bytes()),
            ],
            "bad_signature",
        ),
        (
            "an unknown key id",
            vec![
                ("envelope", g),
                ("kid", b"kid9"),
                ("sig", unknown_kid_sig.as_bytes()),
            ],
            "unknown_key_id",
        ),
        (
            "a key id that is not text",
            vec![
                ("envelope", g),
                ("kid", b"\xff\xfe"),
                ("sig", acme_sig.as_bytes()),
            ],
            "unknown_key_id",
        ),
    ];
    let mut expected = HashMap::new();
    for (what, fields, reason) in &cases {
        let id = xadd(&conn, &name, fields).await;
        expected.insert(id, (*what, *reason));
    }
    // The genuine entry, verbatim, still goes through.
    xadd(
        &conn,
        &name,
        &[
            ("envelope", acme.as_bytes()),
            ("kid", b"kid1"),
            ("sig", acme_sig.as_bytes()),
        ],
    )
    .await;

    let registry = Counting(registry(), AtomicUsize::new(0));
    let seen: Seen = Arc::default();
    let report = consumer.poll(&registry, record(&seen, None)).await.unwrap();
    assert_eq!(
        (report.handled, report.dead_lettered, report.failed),
        (1, cases.len(), 0)
    );
    assert_eq!(*seen.lock().unwrap(), [("acme".to_owned(), 1)]);
    assert_eq!(
        registry.1.load(Ordering::SeqCst),
        1,
        "only the genuine entry is looked up"
    );
    assert_eq!(pending(&conn, &name, "billing").await, 0);
    let dead = dead_letters_by_source(&conn, &stream).await;
    assert_eq!(dead.len(), cases.len());
    for (source, dead) in &dead {
        let (what, want) = expected[source];
        assert_eq!(dead.reason, want, "{what}");
    }
}

/// Keys rotate by key id: a consumer accepts every configured key, and only those.
#[tokio::test]
async fn signing_keys_rotate_by_key_id() {
    let Some(conn) = redis("signing_keys_rotate_by_key_id").await else {
        return;
    };
    let name = unique("events");
    let old: SigningKeys = format!("kid0:{KEY0}").parse().unwrap();
    let rotated: SigningKeys = format!("kid1:{KEY1},kid0:{KEY0}").parse().unwrap();
    let producer = EventStream::new(conn.clone(), name.clone(), old);
    let id = producer
        .publish(&TenantEvent::new(&ctx("acme"), Paid { invoice: 1 }))
        .await
        .unwrap();
    let entry: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
        .arg(&name)
        .arg(&id)
        .arg(&id)
        .query_async(&mut conn.clone())
        .await
        .unwrap();
    let fields = &entry.ids[0];
    assert_eq!(fields.get::<String>("kid").as_deref(), Some("kid0"));
    let envelope: String = fields.get("envelope").unwrap();
    assert_eq!(
        fields.get::<String>("sig").unwrap(),
        sign(&name, "kid0", KEY0, envelope.as_bytes()),
        "the wire format is the documented one"
    );
    assert_eq!(fields.map.len(), 3);

    // A consumer that signs with kid1 and still accepts kid0.
    let seen: Seen = Arc::default();
    let rotated = EventStream::new(conn.clone(), name.clone(), rotated);
    let mut consumer = rotated.consumer("rotated", "c1");
    consumer.ensure_group().await.unwrap();
    let report = consumer
        .poll(&registry(), record(&seen, None))
        .await
        .unwrap();
    assert_eq!(report.handled, 1);
    // ... and whose own events are signed with kid1.
    rotated
        .publish(&TenantEvent::new(&ctx("globex"), Paid { invoice: 2 }))
        .await
        .unwrap();
    let report = consumer
        .poll(&registry(), record(&seen, None))
        .await
        .unwrap();
    assert_eq!(report.handled, 1);
    assert_eq!(
        *seen.lock().unwrap(),
        [("acme".to_owned(), 1), ("globex".to_owned(), 2)]
    );

    // A consumer that dropped kid0: the old entry has an unknown key id, the new one passes.
    let current = EventStream::new(conn.clone(), name.clone(), keys());
    let mut consumer = current.consumer("current", "c1");
    consumer.ensure_group().await.unwrap();
    let report = consumer
        .poll(&registry(), record(&seen, None))
        .await
        .unwrap();
    assert_eq!((report.handled, report.dead_lettered), (1, 1));
    let dead = dead_letters_by_source(&conn, &current).await;
    assert_eq!(dead[&id].reason, "unknown_key_id");
}

/// An entry that gives a field twice is dead-lettered, not read by its first (or last) copy.
#[tokio::test]
async fn entries_with_a_field_twice_are_dead_lettered() {
    let Some(conn) = redis("entries_with_a_field_twice_are_dead_lettered").await else {
        return;
    };
    let stream = events(&conn);
    let name = stream.name().to_owned();
    let mut consumer = stream.consumer("billing", "worker-1");
    consumer.ensure_group().await.unwrap();

    let acme = serde_json::to_string(&TenantEvent::new(&ctx("acme"), Paid { invoice: 1 })).unwrap();
    let globex =
        serde_json::to_string(&TenantEvent::new(&ctx("globex"), Paid { invoice: 2 })).unwrap();
    let acme_sig = sign(&name, "kid1", KEY1, acme.as_bytes());
    let globex_sig = sign(&name, "kid1", KEY1, globex.as_bytes());
    let (a, g) = (acme.as_bytes(), globex.as_bytes());
    let (sa, sg) = (acme_sig.as_bytes(), globex_sig.as_bytes());

    type Fields<'a> = Vec<(&'a str, &'a [u8])>;
    let cases: Vec<(&str, Fields, &str)> = vec![
        (
            "two envelopes, the first one signed",
            vec![
                ("envelope", a),
                ("envelope", g),
                ("kid", b"kid1"),
                ("sig", sa),
            ],
            "duplicate_field",
        ),
        (
            "two envelopes, the second one signed",
            vec![
                ("envelope", a),
                ("kid", b"kid1"),
                ("sig", sg),
                ("envelope", g),
            ],
            "duplicate_field",
        ),
        (
            "two key ids",
            vec![
                ("envelope", a),
                ("kid", b"kid1"),
                ("kid", b"kid0"),
                ("sig", sa),
            ],
            "duplicate_field",
        ),
        (
            "two signatures",
            vec![("envelope", a), ("kid", b"kid1"), ("sig", sa), ("sig", sa)],
            "duplicate_field",
        ),
        (
            "a genuine entry and a second tenant",
            vec![
                ("envelope", a),
                ("kid", b"kid1"),
                ("sig", sa),
                ("tenant_id", b"globex"),
            ],
            "malformed_envelope",
        ),
    ];
    let mut expected = HashMap::new();
    for (what, fields, reason) in &cases {
        let id = xadd(&conn, &name, fields).await;
        expected.insert(id, (*what, *reason));
    }
    let seen: Seen = Arc::default();
    let report = consumer
        .poll(&registry(), record(&seen, None))
        .await
        .unwrap();
    assert_eq!((report.handled, report.dead_lettered), (0, cases.len()));
    assert!(seen.lock().unwrap().is_empty());
    for (source, dead) in dead_letters_by_source(&conn, &stream).await {
        let (what, want) = expected[&source];
        assert_eq!(dead.reason, want, "{what}");
        assert!(!dead.detail.is_empty(), "{what}");
    }
}

/// Polls until `done` says so or `within` runs out, sleeping `step` between polls.
async fn poll_until(
    consumer: &mut tenant::redis::EventConsumer<MultiplexedConnection>,
    registry: &impl TenantRegistry,
    seen: &Seen,
    within: Duration,
    step: Duration,
    mut done: impl FnMut(&tenant::redis::events::PollReport) -> bool,
) -> Option<tenant::redis::events::PollReport> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        let report = consumer.poll(registry, record(seen, None)).await.unwrap();
        if done(&report) {
            return Some(report);
        }
        tokio::time::sleep(step).await;
    }
    None
}

/// A tenant the registry does not know yet (just created, or a cached "not found") is given a
/// grace period: its events stay pending and are handled once it is known; a tenant that never
/// appears has its events dead-lettered after the grace, not before.
#[tokio::test]
async fn unknown_tenants_get_a_grace_period() {
    let Some(conn) = redis("unknown_tenants_get_a_grace_period").await else {
        return;
    };
    let stream = events(&conn);
    let growing = Growing::default();
    growing.add("acme");
    // The registry caches misses for 300 ms.
    let registry = CachedRegistry::new(growing.clone(), Duration::from_millis(300), 100);
    let seen: Seen = Arc::default();
    // max_deliveries(1): the lookups during the grace do not use up deliveries.
    let mut consumer = stream
        .consumer("billing", "worker-1")
        .unknown_tenant_grace(Duration::from_secs(30))
        .takeover_idle(Duration::from_millis(100))
        .max_deliveries(1);
    consumer.ensure_group().await.unwrap();

    // Registered within the grace.
    stream
        .publish(&TenantEvent::new(&ctx("newco"), Paid { invoice: 1 }))
        .await
        .unwrap();
    let report = consumer.poll(&registry, record(&seen, None)).await.unwrap();
    assert_eq!((report.deferred, report.dead_lettered), (1, 0));
    assert_eq!(pending(&conn, stream.name(), "billing").await, 1);
    growing.add("newco");
    let report = poll_until(
        &mut consumer,
        &registry,
        &seen,
        Duration::from_secs(10),
        Duration::from_millis(50),
        |r| r.handled > 0 || r.dead_lettered > 0,
    )
    .await
    .expect("handled within the deadline");
    assert_eq!(
        (report.handled, report.dead_lettered, report.taken_over),
        (1, 0, 1)
    );
    assert_eq!(*seen.lock().unwrap(), [("newco".to_owned(), 1)]);
    assert_eq!(pending(&conn, stream.name(), "billing").await, 0);
    assert!(dead_letters_by_source(&conn, &stream).await.is_empty());

    // Never registered: dead-lettered after the grace, not before.
    let grace = Duration::from_millis(1500);
    let mut consumer = stream
        .consumer("billing", "worker-2")
        .unknown_tenant_grace(grace)
        .takeover_idle(Duration::from_millis(100));
    let published = Instant::now();
    let id = stream
        .publish(&TenantEvent::new(&ctx("ghost"), Paid { invoice: 2 }))
        .await
        .unwrap();
    let mut deferrals = 0;
    let report = poll_until(
        &mut consumer,
        &registry,
        &seen,
        Duration::from_secs(10),
        Duration::from_millis(50),
        |r| {
            deferrals += r.deferred;
            r.dead_lettered > 0 || r.handled > 0
        },
    )
    .await
    .expect("dead-lettered within the deadline");
    assert!(published.elapsed() >= grace, "{:?}", published.elapsed());
    assert!(
        deferrals >= 2,
        "looked up again during the grace: {deferrals}"
    );
    assert_eq!((report.dead_lettered, report.handled), (1, 0));
    let dead = dead_letters_by_source(&conn, &stream).await;
    assert_eq!(dead[&id].reason, "unknown_tenant");
    assert_eq!(seen.lock().unwrap().len(), 1);
    assert_eq!(pending(&conn, stream.name(), "billing").await, 0);
}

/// A consumer that dies with entries pending: another consumer of the group takes them over once
/// they have been idle for the claim time, and not before.
#[tokio::test]
async fn a_dead_consumers_entries_are_claimed_by_another() {
    let Some(conn) = redis("a_dead_consumers_entries_are_claimed_by_another").await else {
        return;
    };
    let stream = events(&conn);
    let name = stream.name().to_owned();
    let mut survivor = stream
        .consumer("billing", "survivor")
        .takeover_idle(Duration::from_millis(400));
    survivor.ensure_group().await.unwrap();
    for invoice in [1, 2, 3] {
        stream
            .publish(&TenantEvent::new(&ctx("acme"), Paid { invoice }))
            .await
            .unwrap();
    }
    // The dying consumer reads the three entries, then its process is gone.
    let _: redis::Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg("billing")
        .arg("dying")
        .arg("COUNT")
        .arg(10)
        .arg("STREAMS")
        .arg(&name)
        .arg(">")
        .query_async(&mut conn.clone())
        .await
        .unwrap();
    assert_eq!(pending(&conn, &name, "billing").await, 3);

    // Not idle for long enough yet: a consumer that may still be working keeps them.
    let seen: Seen = Arc::default();
    let report = survivor
        .poll(&registry(), record(&seen, None))
        .await
        .unwrap();
    assert!(report.is_empty(), "{report:?}");

    tokio::time::sleep(Duration::from_millis(500)).await;
    let report = survivor
        .poll(&registry(), record(&seen, None))
        .await
        .unwrap();
    assert_eq!((report.taken_over, report.handled), (3, 3));
    let invoices: Vec<u64> = seen.lock().unwrap().iter().map(|(_, n)| *n).collect();
    assert_eq!(invoices, [1, 2, 3]);
    assert_eq!(pending(&conn, &name, "billing").await, 0);
    assert!(
        survivor
            .poll(&registry(), record(&seen, None))
            .await
            .unwrap()
            .is_empty()
    );
}

/// An event whose handler always fails is dead-lettered after `max_deliveries` attempts; one whose
/// consumer kept dying while handling it is dead-lettered without running the handler again.
#[tokio::test]
async fn a_poison_event_is_dead_lettered_after_max_deliveries() {
    let Some(conn) = redis("a_poison_event_is_dead_lettered_after_max_deliveries").await else {
        return;
    };
    let stream = events(&conn);
    let name = stream.name().to_owned();
    let mut consumer = stream
        .consumer("billing", "worker-1")
        .max_deliveries(3)
        .takeover_idle(Duration::from_secs(3600));
    consumer.ensure_group().await.unwrap();
    let poison = stream
        .publish(&TenantEvent::new(&ctx("acme"), Paid { invoice: 13 }))
        .await
        .unwrap();

    let attempts = Arc::new(AtomicUsize::new(0));
    let failing = |attempts: &Arc<AtomicUsize>| {
        let attempts = Arc::clone(attempts);
        move |_: TenantCtx, _: Paid| {
            attempts.fetch_add(1, Ordering::SeqCst);
            ready(Err::<(), _>("always fails"))
        }
    };
    let mut outcomes = Vec::new();
    for _ in 0..6 {
        let report = consumer
            .poll(&registry(), failing(&attempts))
            .await
            .unwrap();
        outcomes.push((report.failed, report.dead_lettered));
        consumer.rewind();
    }
    assert_eq!(outcomes, [(1, 0), (1, 0), (0, 1), (0, 0), (0, 0), (0, 0)]);
    assert_eq!(attempts.load(Ordering::SeqCst), 3);
    let dead = dead_letters_by_source(&conn, &stream).await;
    assert_eq!(dead[&poison].reason, "too_many_deliveries");
    assert!(
        dead[&poison].detail.contains("always fails"),
        "{}",
        dead[&poison].detail
    );
    assert_eq!(pending(&conn, &name, "billing").await, 0);

    // A consumer that crashes on the event every time it reads it: four deliveries, no ack.
    let crashing = stream
        .publish(&TenantEvent::new(&ctx("acme"), Paid { invoice: 14 }))
        .await
        .unwrap();
    for start in [">", "0", "0", "0"] {
        let _: redis::Value = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg("billing")
            .arg("crashing")
            .arg("STREAMS")
            .arg(&name)
            .arg(start)
            .query_async(&mut conn.clone())
            .await
            .unwrap();
    }
    let mut other = stream
        .consumer("billing", "worker-2")
        .max_deliveries(3)
        .takeover_idle(Duration::from_millis(100));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let report = other.poll(&registry(), failing(&attempts)).await.unwrap();
    assert_eq!((report.taken_over, report.dead_lettered), (1, 1));
    assert_eq!(
        attempts.load(Ordering::SeqCst),
        3,
        "the handler did not run again"
    );
    let dead = dead_letters_by_source(&conn, &stream).await;
    assert_eq!(dead[&crashing].reason, "too_many_deliveries");
    assert_eq!(pending(&conn, &name, "billing").await, 0);
}

/// A scan collects at most its limit of keys, and says so rather than return part of them.
#[tokio::test]
async fn scans_are_bounded() {
    let Some(conn) = redis("scans_are_bounded").await else {
        return;
    };
    let (cache, _) = cache(&conn).await;
    let cache = cache.with_scan_limit(10);
    let acme = ctx("acme");
    let globex = ctx("globex");
    for i in 0..10 {
        cache.set(&acme, &format!("a:{i}"), 1).await.unwrap();
    }
    // Another tenant's keys do not count towards acme's limit.
    for i in 0..50 {
        cache.set(&globex, &format!("a:{i}"), 1).await.unwrap();
    }
    assert_eq!(cache.scan(&acme, "").await.unwrap().len(), 10);
    cache.set(&acme, "b:1", 1).await.unwrap();
    assert!(matches!(
        cache.scan(&acme, "").await,
        Err(tenant::redis::Error::ScanLimitExceeded { limit: 10 })
    ));
    assert_eq!(cache.scan(&acme, "a:").await.unwrap().len(), 10);
    assert_eq!(cache.scan(&acme, "b:").await.unwrap(), ["b:1"]);
    assert!(matches!(
        cache.scan(&globex, "a:").await,
        Err(tenant::redis::Error::ScanLimitExceeded { limit: 10 })
    ));
    let all = cache.with_scan_limit(50);
    assert_eq!(all.scan(&globex, "").await.unwrap().len(), 50);
    assert!(
        TenantCache::new(conn.clone())
            .with_scan_limit(0)
            .scan(&acme, "")
            .await
            .is_ok(),
        "no namespace: nothing of this acme there"
    );
}

/// The consumer verifies an event's tenant the way every claim is verified: a tenant outside
/// the consumer's allow-list is dead-lettered, never handled.
#[tokio::test]
async fn events_of_tenants_outside_the_allow_list_are_dead_lettered() {
    let Some(conn) = redis("events_of_tenants_outside_the_allow_list_are_dead_lettered").await
    else {
        return;
    };
    let stream = events(&conn);
    let only_acme = TenancyConfig::default().with_allowed(["acme".parse().unwrap()]);
    let mut consumer = stream.consumer("billing", "worker-1").tenancy(only_acme);
    consumer.ensure_group().await.unwrap();
    let acme = stream
        .publish(&TenantEvent::new(&ctx("acme"), Paid { invoice: 1 }))
        .await
        .unwrap();
    let globex = stream
        .publish(&TenantEvent::new(&ctx("globex"), Paid { invoice: 2 }))
        .await
        .unwrap();
    let seen: Seen = Arc::default();
    let report = consumer
        .poll(&registry(), record(&seen, None))
        .await
        .unwrap();
    assert_eq!((report.handled, report.dead_lettered), (1, 1), "{report:?}");
    assert_eq!(*seen.lock().unwrap(), [("acme".to_owned(), 1)]);
    let dead = dead_letters_by_source(&conn, &stream).await;
    assert!(!dead.contains_key(&acme));
    assert_eq!(dead[&globex].reason, "tenant_not_allowed");
    assert_eq!(pending(&conn, stream.name(), "billing").await, 0);
}

// --- issue 21: a scan visits the tenant's keys, not the keyspace ---------------------------

/// A connection that records the name of every command sent through it.
#[derive(Clone)]
struct Recorded {
    inner: MultiplexedConnection,
    sent: Arc<Mutex<Vec<String>>>,
}

impl Recorded {
    fn record(&self, cmd: &redis::Cmd) {
        if let Some(redis::Arg::Simple(name)) = cmd.args_iter().next() {
            let name = String::from_utf8_lossy(name).to_uppercase();
            self.sent.lock().unwrap().push(name);
        }
    }
}

impl redis::aio::ConnectionLike for Recorded {
    fn req_packed_command<'a>(
        &'a mut self,
        cmd: &'a redis::Cmd,
    ) -> redis::RedisFuture<'a, redis::Value> {
        self.record(cmd);
        self.inner.req_packed_command(cmd)
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
        for cmd in pipeline.cmd_iter() {
            self.record(cmd);
        }
        self.inner.req_packed_commands(pipeline, offset, count)
    }

    fn get_db(&self) -> i64 {
        self.inner.get_db()
    }
}

/// `SCAN .. MATCH` filters what it returns, not what it visits: a scan of one tenant's keys
/// walked every key of every tenant, one round trip per few hundred. With 20,000 keys of 200
/// other tenants on the server, acme's scan of its 3 keys must take a handful of commands, none
/// of them a keyspace `SCAN`.
#[tokio::test]
async fn a_scan_does_not_walk_other_tenants_keys() {
    let Some(conn) = redis("a_scan_does_not_walk_other_tenants_keys").await else {
        return;
    };
    let namespace = unique("walk");
    let mut raw = conn.clone();
    let mut others = Vec::new();
    for tenant in 0..200 {
        let other = ctx(&format!("other{tenant}"));
        for key in 0..100 {
            let scoped = other.scoped_key(&format!("k{key}")).unwrap();
            others.push(format!("{namespace}:{}", scoped.as_str()));
        }
    }
    for chunk in others.chunks(1_000) {
        let mut mset = redis::cmd("MSET");
        for key in chunk {
            mset.arg(key).arg(1);
        }
        mset.query_async::<()>(&mut raw).await.unwrap();
    }

    let sent = Arc::new(Mutex::new(Vec::new()));
    let recorded = Recorded {
        inner: conn.clone(),
        sent: sent.clone(),
    };
    let cache = TenantCache::new(recorded)
        .with_namespace(&namespace)
        .unwrap();
    let acme = ctx("acme");
    for key in ["a:1", "a:2", "b:1"] {
        cache.set(&acme, key, 1).await.unwrap();
    }
    sent.lock().unwrap().clear();
    let started = Instant::now();
    assert_eq!(cache.scan(&acme, "").await.unwrap(), ["a:1", "a:2", "b:1"]);
    assert_eq!(cache.scan(&acme, "a:").await.unwrap(), ["a:1", "a:2"]);
    let elapsed = started.elapsed();
    let sent = sent.lock().unwrap().clone();
    eprintln!("two scans: {} commands in {elapsed:?}", sent.len());
    assert!(
        !sent.iter().any(|name| name == "SCAN") && sent.len() <= 8,
        "{} commands, starting {:?}",
        sent.len(),
        &sent[..sent.len().min(6)]
    );

    for chunk in others.chunks(1_000) {
        redis::cmd("UNLINK")
            .arg(chunk)
            .query_async::<u64>(&mut raw)
            .await
            .unwrap();
    }
    for key in ["a:1", "a:2", "b:1"] {
        cache.del(&acme, key).await.unwrap();
    }
}

/// The index behind `scan` follows what keys become: an expired key, a key deleted past the
/// cache and a deleted key leave it; a key that lost its expiry (`INCRBY` on an expired key
/// creates a new one) stays; and expired entries do not pile up while nobody scans.
#[tokio::test]
async fn the_index_follows_expiry_and_deletes() {
    let Some(conn) = redis("the_index_follows_expiry_and_deletes").await else {
        return;
    };
    let (cache, ns) = cache(&conn).await;
    let acme = ctx("acme");
    let index = format!("{ns}:{}", acme.scoped_key_prefix());
    let mut raw = conn.clone();
    let card = |mut raw: MultiplexedConnection, index: String| async move {
        redis::cmd("ZCARD")
            .arg(index)
            .query_async::<u64>(&mut raw)
            .await
            .unwrap()
    };

    for i in 0..20 {
        cache
            .set_ex(&acme, &format!("session:{i}"), 1, Duration::from_millis(50))
            .await
            .unwrap();
    }
    cache.set(&acme, "kept", 1).await.unwrap();
    cache.set(&acme, "gone", 1).await.unwrap();
    cache.incr(&acme, "counter", 1).await.unwrap();
    cache
        .expire(&acme, "counter", Duration::from_millis(50))
        .await
        .unwrap();
    assert_eq!(cache.scan(&acme, "").await.unwrap().len(), 23);

    tokio::time::sleep(Duration::from_millis(120)).await;
    // Past the cache: the key goes, its index entry stays until a scan or a write sees it.
    redis::cmd("DEL")
        .arg(cache.redis_key(&acme, "gone").unwrap())
        .query_async::<u64>(&mut raw)
        .await
        .unwrap();
    // A write prunes the expired entries (the 20 sessions and the counter)...
    cache.incr(&acme, "counter", 5).await.unwrap();
    assert_eq!(card(conn.clone(), index.clone()).await, 3);
    // ... and the counter, created again without expiry, is listed; `gone` is not.
    assert_eq!(cache.scan(&acme, "").await.unwrap(), ["counter", "kept"]);
    assert_eq!(card(conn.clone(), index.clone()).await, 2);

    assert!(cache.del(&acme, "kept").await.unwrap());
    assert!(cache.del(&acme, "counter").await.unwrap());
    assert!(cache.scan(&acme, "").await.unwrap().is_empty());
    // An empty sorted set is no key at all: nothing is left behind.
    assert!(!raw_exists(&conn, &index).await);
}
