//! Property-based fuzzing of the event consumer's parsing of stream entries: no entry that a
//! writer to the stream adds, however malformed, panics the consumer or reaches a handler
//! other than as the wire format says. End to end on the real Redis at `REDIS_URL`:
//! `TENANT_FUZZ_CASES` generated entries (default 256; CI runs 20,000) are added to one stream by hand, as
//! anyone with write access to it can, and one consumer polls them all. Each entry's outcome —
//! handled under which tenant with which payload, or dead-lettered with which reason — is
//! predicted by a reference written here from the wire format's description (fields, then
//! signature, then envelope, then tenant), not by the crate's code. A difference, or a panic,
//! fails the test with the seed and the entry.
//!
//! Entries are mostly near-valid: genuine envelopes, envelopes built field by field with each
//! field valid, missing, `null` or of another type, arbitrary bytes, all signed correctly; then
//! zero to three changes to the entry's fields (a value replaced, a field dropped, given twice
//! or added, the order shuffled), so every check is reached and every reason produced.
//!
//! ```sh
//! TENANT_FUZZ_CASES=1000000 cargo test -p tenant-redis --test fuzz --release -- --nocapture
//! TENANT_FUZZ_SEED=<64 hex digits> cargo test -p tenant-redis --test fuzz   # replay a failure
//! ```

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::{Value, json};
use tenant::TenantCtx;
use tenant::redis::{EventStream, TenantEvent};
mod common;

use common::{KEY1, ctx, dead_letters, keys, redis, registry, sign, unique, xadd, xadd_cmd};
use tenant_test_support as support;
use tenant_test_support::fuzz::is_tenant_id;

/// Of `common::registry()`: active, inactive, and not in it.
const ACTIVE: [&str; 2] = ["acme", "globex"];
const INACTIVE: &str = "dormant";
const UNKNOWN: &str = "initech";

/// `TENANT_FUZZ_SEED` (64 hex digits) or a fresh random seed; printed either way.
fn seed() -> [u8; 32] {
    let mut seed = [0u8; 32];
    match std::env::var("TENANT_FUZZ_SEED") {
        Ok(hex) => {
            assert_eq!(hex.len(), 64, "TENANT_FUZZ_SEED is 64 hex digits");
            for (i, byte) in seed.iter_mut().enumerate() {
                *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("hex digits");
            }
        }
        Err(_) => {
            let random = uuid::Uuid::new_v4().into_bytes();
            seed[..16].copy_from_slice(&random);
            seed[16..].copy_from_slice(&uuid::Uuid::new_v4().into_bytes());
        }
    }
    seed
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// --- generation ------------------------------------------------------------------------------

/// One field of a hand-built envelope.
#[derive(Debug, Clone)]
enum Part {
    Absent,
    Json(Value),
    /// Replaced by a value that is valid for the field.
    Valid,
}

#[derive(Debug, Clone)]
enum Envelope {
    /// What the crate's producer writes for this tenant.
    Genuine(&'static str),
    /// Built key by key, in the given order, with an optional extra key.
    Built {
        tenant_id: Part,
        tenant: &'static str,
        event_id: Part,
        occurred_at_ms: Part,
        payload: Part,
        extra: Option<(String, Value)>,
        order: Vec<usize>,
    },
    /// The four values as a JSON array, in the fields' order.
    Array(&'static str),
    Bytes(Vec<u8>),
}

#[derive(Debug, Clone)]
enum Change {
    Replace(usize, Vec<u8>),
    Drop(usize),
    Duplicate(usize, Vec<u8>),
    Add(Vec<u8>, Vec<u8>),
    /// One byte of the `sig` text changed.
    SigByte(usize, u8),
    /// One byte of the envelope changed after signing.
    EnvelopeByte(usize, u8),
    Reverse,
}

#[derive(Debug, Clone)]
struct Case {
    envelope: Envelope,
    changes: Vec<Change>,
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        (-1e12f64..1e12).prop_map(|f| json!(f)),
        "[ -~]{0,12}".prop_map(Value::String),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{0,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn part(valid_weight: u32) -> impl Strategy<Value = Part> {
    prop_oneof![
        valid_weight => Just(Part::Valid),
        1 => Just(Part::Absent),
        1 => json_value().prop_map(Part::Json),
    ]
}

fn tenant() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        4 => prop::sample::select(ACTIVE.to_vec()),
        1 => Just(INACTIVE),
        1 => Just(UNKNOWN),
    ]
}

fn envelope() -> impl Strategy<Value = Envelope> {
    let tenant_id = prop_oneof![
        6 => Just(Part::Valid),
        1 => Just(Part::Absent),
        1 => json_value().prop_map(Part::Json),
        // Near the grammar: capitals, `_`, edge hyphens, too long.
        1 => "[a-zA-Z0-9_-]{0,70}".prop_map(|s| Part::Json(Value::String(s))),
    ];
    let built = (
        tenant_id,
        tenant(),
        part(6),
        part(6),
        part(6),
        prop::option::weighted(
            0.1,
            ("[a-z_]{1,14}|tenant_id|payload", json_value()).prop_map(|(k, v)| (k.to_string(), v)),
        ),
        Just((0..5).collect::<Vec<usize>>()).prop_shuffle(),
    )
        .prop_map(
            |(tenant_id, tenant, event_id, occurred_at_ms, payload, extra, order)| {
                Envelope::Built {
                    tenant_id,
                    tenant,
                    event_id,
                    occurred_at_ms,
                    payload,
                    extra,
                    order,
                }
            },
        );
    prop_oneof![
        4 => tenant().prop_map(Envelope::Genuine),
        6 => built,
        1 => tenant().prop_map(Envelope::Array),
        1 => prop::collection::vec(any::<u8>(), 0..120).prop_map(Envelope::Bytes),
        1 => any::<String>().prop_map(|s| Envelope::Bytes(s.into_bytes())),
    ]
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"kid1".to_vec()),
        Just(b"envelope".to_vec()),
        "[a-z0-9+/=]{0,50}".prop_map(String::into_bytes),
        prop::collection::vec(any::<u8>(), 0..40),
    ]
}

fn field_name() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"envelope".to_vec()),
        Just(b"kid".to_vec()),
        Just(b"sig".to_vec()),
        Just(b"reason".to_vec()),
        Just(b"Envelope".to_vec()),
        prop::collection::vec(any::<u8>(), 1..10),
    ]
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        (0..3usize, bytes()).prop_map(|(i, v)| Change::Replace(i, v)),
        (0..3usize).prop_map(Change::Drop),
        (0..3usize, bytes()).prop_map(|(i, v)| Change::Duplicate(i, v)),
        (field_name(), bytes()).prop_map(|(n, v)| Change::Add(n, v)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Change::SigByte(i, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Change::EnvelopeByte(i, b)),
        Just(Change::Reverse),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    let changes = prop_oneof![
        5 => Just(Vec::new()),
        3 => prop::collection::vec(change(), 1..2),
        2 => prop::collection::vec(change(), 2..4),
    ];
    (envelope(), changes).prop_map(|(envelope, changes)| Case { envelope, changes })
}

// --- building the entry --------------------------------------------------------------------------

fn now_ms() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

/// A payload no other case has, so a handled event is traced back to its entry.
fn marker(index: usize) -> Value {
    json!({ "case": index })
}

fn envelope_bytes(envelope: &Envelope, index: usize) -> Vec<u8> {
    match envelope {
        Envelope::Genuine(tenant) => {
            serde_json::to_vec(&TenantEvent::new(&ctx(tenant), marker(index))).unwrap()
        }
        Envelope::Built {
            tenant_id,
            tenant,
            event_id,
            occurred_at_ms,
            payload,
            extra,
            order,
        } => {
            let resolve = |part: &Part, valid: Value| match part {
                Part::Absent => None,
                Part::Json(value) => Some(value.clone()),
                Part::Valid => Some(valid),
            };
            let parts = [
                ("tenant_id", resolve(tenant_id, json!(tenant))),
                (
                    "event_id",
                    resolve(event_id, json!(uuid::Uuid::new_v4().to_string())),
                ),
                ("occurred_at_ms", resolve(occurred_at_ms, json!(now_ms()))),
                ("payload", resolve(payload, marker(index))),
            ];
            // By hand, in the generated order, so key order and duplicate keys are as drawn.
            let mut members = Vec::new();
            for &i in order {
                if i < 4 {
                    if let (name, Some(value)) = &parts[i] {
                        members.push(format!("{}:{value}", json!(name)));
                    }
                } else if let Some((name, value)) = extra {
                    members.push(format!("{}:{value}", json!(name)));
                }
            }
            format!("{{{}}}", members.join(",")).into_bytes()
        }
        Envelope::Array(tenant) => serde_json::to_vec(&json!([
            tenant,
            uuid::Uuid::new_v4().to_string(),
            now_ms(),
            marker(index)
        ]))
        .unwrap(),
        Envelope::Bytes(bytes) => bytes.clone(),
    }
}

type Fields = Vec<(Vec<u8>, Vec<u8>)>;

fn entry(stream: &str, case: &Case, index: usize) -> Fields {
    let mut envelope = envelope_bytes(&case.envelope, index);
    let mut sig = sign(stream, "kid1", KEY1, &envelope).into_bytes();
    // Byte changes come first: they model tampering with a signed entry, which is what the
    // signature is there to catch.
    for change in &case.changes {
        match *change {
            Change::SigByte(i, b) => {
                let i = i % sig.len();
                sig[i] = b;
            }
            Change::EnvelopeByte(i, b) if !envelope.is_empty() => {
                let i = i % envelope.len();
                envelope[i] = b;
            }
            _ => {}
        }
    }
    let mut fields: Fields = vec![
        (b"envelope".to_vec(), envelope),
        (b"kid".to_vec(), b"kid1".to_vec()),
        (b"sig".to_vec(), sig),
    ];
    for change in &case.changes {
        match change {
            Change::Replace(i, value) if *i < fields.len() => fields[*i].1 = value.clone(),
            Change::Drop(i) if *i < fields.len() && fields.len() > 1 => {
                fields.remove(*i);
            }
            Change::Duplicate(i, value) if *i < fields.len() => {
                let name = fields[*i].0.clone();
                fields.push((name, value.clone()));
            }
            Change::Add(name, value) => fields.push((name.clone(), value.clone())),
            Change::Reverse => fields.reverse(),
            _ => {}
        }
    }
    fields
}

// --- the reference -----------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Expected {
    Handled { tenant: String, payload: Value },
    Dead(&'static str),
}

/// The envelope as the wire format describes it: a JSON object with exactly the four fields,
/// each once; `tenant_id` a tenant id, `event_id` a UUID string, `occurred_at_ms` an unsigned
/// 64-bit integer, `payload` any JSON. Returns `(tenant_id, payload)`.
fn reference_envelope(raw: &[u8]) -> Option<(String, Value)> {
    // serde_json's `Value` keeps the last of duplicate keys; the wire format refuses them, so
    // they are counted first with a map visitor of our own.
    let members: Vec<(String, Value)> = {
        let mut de = serde_json::Deserializer::from_slice(raw);
        let members = serde::Deserialize::deserialize(&mut de)
            .ok()
            .map(|Members(m)| m)?;
        de.end().ok()?;
        members
    };
    let mut by_name = BTreeMap::new();
    for (name, value) in members {
        if by_name.insert(name, value).is_some() {
            return None;
        }
    }
    let names: Vec<&str> = by_name.keys().map(String::as_str).collect();
    if names != ["event_id", "occurred_at_ms", "payload", "tenant_id"] {
        return None;
    }
    let tenant = by_name["tenant_id"].as_str().filter(|s| is_tenant_id(s))?;
    by_name["event_id"]
        .as_str()
        .and_then(|s| uuid::Uuid::parse_str(s).ok())?;
    by_name["occurred_at_ms"].as_u64()?;
    Some((tenant.to_owned(), by_name["payload"].clone()))
}

/// A JSON object's members in order, duplicates kept; anything else is refused.
struct Members(Vec<(String, Value)>);

impl<'de> serde::Deserialize<'de> for Members {
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Members;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Members, A::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry()? {
                    members.push(member);
                }
                Ok(Members(members))
            }
        }
        de.deserialize_map(Visitor)
    }
}

fn expected(stream: &str, fields: &Fields) -> Expected {
    let known: [&[u8]; 3] = [b"envelope", b"kid", b"sig"];
    let count = |name: &[u8]| fields.iter().filter(|(n, _)| n == name).count();
    if known.iter().any(|name| count(name) > 1) {
        return Expected::Dead("duplicate_field");
    }
    if fields.iter().any(|(n, _)| !known.contains(&n.as_slice())) {
        return Expected::Dead("malformed_envelope");
    }
    let get = |name: &[u8]| fields.iter().find(|(n, _)| n == name).map(|(_, v)| v);
    let Some(envelope) = get(b"envelope") else {
        return Expected::Dead("malformed_envelope");
    };
    let (Some(kid), Some(sig)) = (get(b"kid"), get(b"sig")) else {
        return Expected::Dead("missing_signature");
    };
    if kid != b"kid1" {
        return Expected::Dead("unknown_key_id");
    }
    // Compared as bytes: a non-canonical base64 spelling of the right tag would decode the same.
    if BASE64.decode(sig).ok() != BASE64.decode(sign(stream, "kid1", KEY1, envelope)).ok() {
        return Expected::Dead("bad_signature");
    }
    let Some((tenant, payload)) = reference_envelope(envelope) else {
        return Expected::Dead("malformed_envelope");
    };
    if ACTIVE.contains(&tenant.as_str()) {
        Expected::Handled { tenant, payload }
    } else if tenant == INACTIVE {
        Expected::Dead("inactive_tenant")
    } else {
        Expected::Dead("unknown_tenant")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_entries_are_handled_or_dead_lettered_exactly_as_the_wire_format_says() {
    let Some(conn) = redis("stream_entries_are_handled_or_dead_lettered").await else {
        return;
    };
    let seed = seed();
    println!("TENANT_FUZZ_SEED={}", hex(&seed));
    let cases = support::fuzz::cases() as usize;
    let stream = unique("fuzz");
    let events = EventStream::new(conn.clone(), stream.clone(), keys());

    // Generate, predict and add every entry, in pipelines of 1,000.
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed),
    );
    let strategy = case();
    let started = Instant::now();
    let mut by_id: BTreeMap<String, (Case, Fields, Expected)> = BTreeMap::new();
    let mut batch = Vec::new();
    for index in 0..cases {
        let case = strategy.new_tree(&mut runner).unwrap().current();
        let fields = entry(&stream, &case, index);
        let expected = expected(&stream, &fields);
        batch.push((case, fields, expected));
        if batch.len() == 1_000 || index + 1 == cases {
            let mut pipe = redis::pipe();
            for (_, fields, _) in &batch {
                pipe.add_command(xadd_cmd(&stream, fields));
            }
            let ids: Vec<String> = pipe.query_async(&mut conn.clone()).await.unwrap();
            by_id.extend(ids.into_iter().zip(batch.drain(..)));
        }
    }
    let generated = started.elapsed();

    // One consumer polls until the stream is drained; the grace for unknown tenants is zero so
    // they are dead-lettered at once rather than left pending.
    let mut consumer = events
        .consumer("fuzz", "fuzz-1")
        .batch(250)
        .block(Duration::from_millis(10))
        .unknown_tenant_grace(Duration::ZERO);
    consumer.ensure_group().await.unwrap();
    let registry = registry();
    let handled = std::sync::Arc::new(std::sync::Mutex::new(Vec::<(String, Value)>::new()));
    let mut totals = (0usize, 0usize);
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let seen = std::sync::Arc::clone(&handled);
        let report = consumer
            .poll(&registry, move |ctx: TenantCtx, payload: Value| {
                seen.lock()
                    .unwrap()
                    .push((ctx.tenant_id().to_string(), payload));
                std::future::ready(Ok::<(), std::convert::Infallible>(()))
            })
            .await
            .unwrap();
        assert_eq!((report.failed, report.deferred), (0, 0), "{report:?}");
        totals.0 += report.handled;
        totals.1 += report.dead_lettered;
        if report.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the consumer did not drain the stream"
        );
    }

    // Dead letters, by the id of the entry they came from.
    let mut dead: BTreeMap<String, String> = BTreeMap::new();
    for entry in dead_letters(&conn, &events).await {
        assert!(
            dead.insert(entry.source_id, entry.reason).is_none(),
            "dead-lettered twice"
        );
    }

    // Compare entry by entry: dead letters by source id, handled events by their unique marker
    // payload (or, for payloads that are not a marker, as a multiset).
    let mut expected_handled = Vec::new();
    let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
    for (id, (case, fields, expected)) in &by_id {
        let context = || {
            format!(
                "entry {id}: {case:?}\nfields: {:?}",
                fields
                    .iter()
                    .map(|(n, v)| (String::from_utf8_lossy(n), String::from_utf8_lossy(v)))
                    .collect::<Vec<_>>()
            )
        };
        match expected {
            Expected::Dead(reason) => {
                assert_eq!(
                    dead.get(id).map(String::as_str),
                    Some(*reason),
                    "TENANT_FUZZ_SEED={}\n{}",
                    hex(&seed),
                    context()
                );
                *reasons.entry(reason).or_default() += 1;
            }
            Expected::Handled { tenant, payload } => {
                assert!(
                    !dead.contains_key(id),
                    "TENANT_FUZZ_SEED={}: dead-lettered as {:?}, expected handled\n{}",
                    hex(&seed),
                    dead[id],
                    context()
                );
                expected_handled.push((tenant.clone(), payload.clone()));
            }
        }
    }
    let mut handled = handled.lock().unwrap().clone();
    let key = |(tenant, payload): &(String, Value)| format!("{tenant} {payload}");
    handled.sort_by_key(key);
    expected_handled.sort_by_key(key);
    assert_eq!(
        handled.len(),
        expected_handled.len(),
        "TENANT_FUZZ_SEED={}",
        hex(&seed)
    );
    for (got, want) in handled.iter().zip(&expected_handled) {
        assert_eq!(got, want, "TENANT_FUZZ_SEED={}", hex(&seed));
    }
    assert_eq!(totals, (expected_handled.len(), dead.len()));
    assert_eq!(dead.len() + handled.len(), cases);

    println!(
        "{cases} entries in {:.1?} (+{:.1?} to generate): {} handled, {} dead-lettered {reasons:?}",
        started.elapsed() - generated,
        generated,
        handled.len(),
        dead.len()
    );
    let _: () = redis::cmd("DEL")
        .arg(&stream)
        .arg(events.dead_letter_name())
        .query_async(&mut conn.clone())
        .await
        .unwrap();
}

/// Found by the fuzzing above: serde's derive also reads a struct from a JSON array of its
/// fields in order, so `["acme", "<uuid>", <ms>, <payload>]`, correctly signed, was handled.
/// The wire format is an object; a second format would pass here and fail in any other
/// implementation of it.
#[tokio::test]
async fn an_envelope_that_is_a_json_array_is_malformed() {
    let Some(conn) = redis("an_envelope_that_is_a_json_array_is_malformed").await else {
        return;
    };
    let stream = unique("fuzz");
    let events = EventStream::new(conn.clone(), stream.clone(), keys());
    let envelope = json!(["acme", uuid::Uuid::new_v4().to_string(), now_ms(), {"case": 1}]);
    let fields = entry(
        &stream,
        &Case {
            envelope: Envelope::Array("acme"),
            changes: Vec::new(),
        },
        1,
    );
    assert_eq!(
        serde_json::from_slice::<Value>(&fields[0].1).unwrap()[0],
        envelope[0]
    );
    assert_eq!(
        expected(&stream, &fields),
        Expected::Dead("malformed_envelope")
    );
    let id = xadd(&conn, &stream, &fields).await;

    let mut consumer = events.consumer("fuzz", "fuzz-1");
    consumer.ensure_group().await.unwrap();
    let report = consumer
        .poll(&registry(), |_: TenantCtx, _: Value| {
            std::future::ready(Err::<(), _>("the handler must not run"))
        })
        .await
        .unwrap();
    assert_eq!((report.handled, report.dead_lettered), (0, 1));
    let dead = dead_letters(&conn, &events).await;
    assert_eq!(
        (dead[0].source_id.as_str(), dead[0].reason.as_str()),
        (id.as_str(), "malformed_envelope")
    );
    let _: () = redis::cmd("DEL")
        .arg(&stream)
        .arg(events.dead_letter_name())
        .query_async(&mut conn.clone())
        .await
        .unwrap();
}
