//! Tenant-scoped keys, cache and events against a real Redis at `REDIS_URL` (`.ci/redis.sh`
//! starts one). Without `REDIS_URL` every test is skipped with a notice, except on CI (`CI` set),
//! where that is a failure. Every test works in its own namespace or streams, so they run in
//! parallel on one server.

use tenant_test_support as support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use redis::aio::MultiplexedConnection;
use serde::{Deserialize, Serialize};
use tenant::InMemoryRegistry;
use tenant::TenancyConfig;
use tenant::redis::{EventStream, TenantCache, TenantEvent};
use tenant::{Plan, SchemaName, TenantCtx, TenantId, TenantRegistry};

/// A connection to `REDIS_URL`, or `None` (with a notice) when it is unset outside CI.
async fn redis(test: &str) -> Option<MultiplexedConnection> {
    let url = support::server_var("REDIS_URL", test)?;
    let client = redis::Client::open(url.as_str()).expect("REDIS_URL is a Redis URL");
    Some(
        client
            .get_multiplexed_async_connection()
            .await
            .expect("connect to REDIS_URL"),
    )
}

fn unique(what: &str) -> String {
    format!("{what}-{}", uuid::Uuid::new_v4().simple())
}

fn ctx(id: &str) -> TenantCtx {
    support::ctx(id, Plan::Free)
}

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
    assert_eq!(cache.scan(&tenant, "").await.unwrap(), ["raw:1"]);
    assert!(cache.del(&tenant, "raw:1").await.unwrap());
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
    let stream = EventStream::new(conn.clone(), unique("events"));
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

async fn pending(conn: &MultiplexedConnection, stream: &str, group: &str) -> u64 {
    let mut conn = conn.clone();
    let (count, ..): (u64, redis::Value, redis::Value, redis::Value) = redis::cmd("XPENDING")
        .arg(stream)
        .arg(group)
        .query_async(&mut conn)
        .await
        .unwrap();
    count
}

fn registry() -> InMemoryRegistry {
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

#[tokio::test]
async fn events_reach_the_handler_with_their_tenant_and_are_acked() {
    let Some(conn) = redis("events_reach_the_handler_with_their_tenant_and_are_acked").await else {
        return;
    };
    let stream = EventStream::new(conn.clone(), unique("events"));
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

#[tokio::test]
async fn tampered_envelopes_are_dead_lettered_with_a_reason() {
    let Some(conn) = redis("tampered_envelopes_are_dead_lettered_with_a_reason").await else {
        return;
    };
    let (logs, _guard) = support::capture_audit();
    let stream = EventStream::new(conn.clone(), unique("events"));
    let mut consumer = stream.consumer("billing", "worker-1");
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
        ("no envelope field", None, "malformed_envelope"),
    ];
    let mut expected = std::collections::HashMap::new();
    let mut raw = conn.clone();
    for (name, envelope, reason) in &cases {
        let mut xadd = redis::cmd("XADD");
        xadd.arg(stream.name()).arg("*");
        match envelope {
            Some(json) => xadd.arg("envelope").arg(json),
            None => xadd.arg("tenant_id").arg("acme"),
        };
        let id: String = xadd.query_async(&mut raw).await.unwrap();
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

    let dead: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
        .arg(stream.dead_letter_name())
        .arg("-")
        .arg("+")
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(dead.ids.len(), cases.len());
    for entry in &dead.ids {
        let source: String = entry.get("source_id").unwrap();
        let reason: String = entry.get("reason").unwrap();
        let (name, want) = expected[&source];
        assert_eq!(reason, want, "{name}");
        let detail: String = entry.get("detail").unwrap();
        assert!(!detail.is_empty(), "{name}");
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
    let stream = EventStream::new(conn.clone(), unique("events"));
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
