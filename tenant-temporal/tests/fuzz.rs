//! Property-based fuzzing of activity and workflow payloads, so that no payload, however
//! malformed, runs an activity under a tenant the contract does not give it: what a worker
//! receives from the engine, `TENANT_FUZZ_CASES` cases each (default 256; CI runs 20,000).
//!
//! Payloads are the seeds' `RunMigrationsInput(ctx=TenantCtx(..), target_version=..)` with every
//! field valid, absent, `null`, of another JSON type or near its grammar, extra fields in the
//! context and beside it, any key order, and payloads that are not objects at all; and arbitrary
//! bytes. A reference written here from the documented contract (an object of exactly the
//! activity's parameters; in the context, `tenant_id` required, `schema_name` and `plan` optional
//! or `null`, any other field ignored) decides which decode, and the paths at which one that
//! does not may be refused. Then:
//! - an activity input decodes exactly when the reference says, and a refusal names one of the
//!   bad values' JSON paths; a decoded claim becomes a context only for an active registry
//!   tenant, with the registry's schema and plan;
//! - a workflow input opens exactly when the reference says, and a refusal is the non-retryable
//!   `tenant.ActivityInputRejected` failure naming the path;
//! - nothing panics.
//!
//! The input type is written here as `#[tenant::activities]` generates it (the claim, then the
//! parameters, `deny_unknown_fields`).
//!
//! ```sh
//! TENANT_FUZZ_CASES=1000000 cargo test -p tenant-temporal --test fuzz --release
//! ```

use std::collections::BTreeSet;
use std::time::SystemTime;

use proptest::prelude::*;
use serde_json::{Map, Value, json};
use tenant::temporal::{ActivityInput, INPUT_REJECTED, WorkflowInput};
use tenant::{ClaimError, InMemoryRegistry, Plan, SchemaName, TenancyConfig, Tenant, TenantClaim};
use tenant_test_support::fuzz::{is_tenant_id, runner};

#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RunMigrationsInput {
    ctx: TenantClaim,
    target_version: u32,
}

// --- generation ------------------------------------------------------------------------------

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        (-1e12f64..1e12).prop_map(|f| json!(f)),
        "[ -~]{0,10}".prop_map(Value::String),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A value for a key: `None` is the key left out.
fn field(valid: impl Strategy<Value = Value>) -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        6 => valid.prop_map(Some),
        1 => Just(None),
        1 => Just(Some(Value::Null)),
        1 => json_value().prop_map(Some),
    ]
}

fn text(valid: &'static [&'static str], near: &'static str) -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => prop::sample::select(valid).prop_map(|s| json!(s)),
        1 => near.prop_map(|s| json!(s)),
    ]
}

fn ctx() -> impl Strategy<Value = Value> {
    let members = (
        field(text(
            &["acme", "globex", "dormant", "initech"],
            "[a-zA-Z0-9_' -]{0,12}",
        )),
        field(text(
            &["tenant_acme", "tenant_globex", "tenant_dormant", "public"],
            "[a-zA-Z0-9_]{0,12}|pg_[a-z]{0,4}",
        )),
        field(text(
            &["free", "pro", "enterprise", "platinum"],
            "[a-zA-Z ]{0,10}",
        )),
        prop::collection::btree_map(
            prop::sample::select(vec!["region", "user_id", "roles", "TENANT_ID", "planx"]),
            json_value(),
            0..2,
        ),
    )
        .prop_map(|(tenant_id, schema_name, plan, extra)| {
            let mut ctx = Map::new();
            for (key, value) in [
                ("tenant_id", tenant_id),
                ("schema_name", schema_name),
                ("plan", plan),
            ] {
                if let Some(value) = value {
                    ctx.insert(key.to_owned(), value);
                }
            }
            for (key, value) in extra {
                ctx.insert(key.to_owned(), value);
            }
            Value::Object(ctx)
        });
    prop_oneof![9 => members, 1 => json_value()]
}

fn payload() -> impl Strategy<Value = Value> {
    let version = prop_oneof![
        4 => (0u32..10).prop_map(|n| json!(n)),
        1 => any::<u32>().prop_map(|n| json!(n)),
        1 => prop::sample::select(vec![json!(-1), json!(4_294_967_296u64), json!(3.0), json!("3")]),
    ];
    let object = (
        field(ctx()),
        field(version),
        prop::option::weighted(0.1, ("dry_run|ctx_|Ctx|target", json_value())),
    )
        .prop_map(|(ctx, version, extra)| {
            let mut input = Map::new();
            if let Some(ctx) = ctx {
                input.insert("ctx".to_owned(), ctx);
            }
            if let Some(version) = version {
                input.insert("target_version".to_owned(), version);
            }
            if let Some((key, value)) = extra {
                input.insert(key, value);
            }
            Value::Object(input)
        });
    prop_oneof![
        10 => object,
        // What the seeds' dataclasses never send, but the engine would carry.
        1 => (ctx(), any::<u32>()).prop_map(|(ctx, v)| json!([ctx, v])),
        1 => json_value(),
    ]
}

// --- the reference -----------------------------------------------------------------------------

/// What the contract says of a payload: `Ok((tenant, schema, plan))` when it decodes (the
/// optional parts as claimed), or the set of paths at which decoding may stop.
#[allow(clippy::type_complexity)]
fn reference(payload: &Value) -> Result<(String, Option<String>, Option<Plan>), BTreeSet<String>> {
    let mut bad = BTreeSet::new();
    let Value::Object(input) = payload else {
        return Err([".".to_owned()].into());
    };
    for key in input.keys() {
        if !["ctx", "target_version"].contains(&key.as_str()) {
            bad.insert(key.clone());
        }
    }
    match input.get("target_version") {
        None => {
            bad.insert(".".to_owned());
        }
        Some(v) if v.as_u64().is_some_and(|n| n <= u64::from(u32::MAX)) => {}
        Some(_) => {
            bad.insert("target_version".to_owned());
        }
    }
    let mut claim = None;
    match input.get("ctx") {
        None => {
            bad.insert(".".to_owned());
        }
        Some(Value::Object(ctx)) => {
            let tenant = match ctx.get("tenant_id") {
                None => {
                    bad.insert("ctx".to_owned());
                    None
                }
                Some(Value::String(id)) if is_tenant_id(id) => Some(id.clone()),
                Some(_) => {
                    bad.insert("ctx.tenant_id".to_owned());
                    None
                }
            };
            // Schema names and plans have parsers of their own, fuzzed against their own
            // references in tenant-core; here only whether the field is optional matters.
            let schema = match ctx.get("schema_name") {
                None | Some(Value::Null) => None,
                Some(v) => match serde_json::from_value::<SchemaName>(v.clone()) {
                    Ok(schema) => Some(schema.to_string()),
                    Err(_) => {
                        bad.insert("ctx.schema_name".to_owned());
                        None
                    }
                },
            };
            let plan = match ctx.get("plan") {
                None | Some(Value::Null) => None,
                Some(v) => match serde_json::from_value::<Plan>(v.clone()) {
                    Ok(plan) => Some(plan),
                    Err(_) => {
                        bad.insert("ctx.plan".to_owned());
                        None
                    }
                },
            };
            claim = tenant.map(|tenant| (tenant, schema, plan));
        }
        Some(_) => {
            bad.insert("ctx".to_owned());
        }
    }
    match claim {
        Some(claim) if bad.is_empty() => Ok(claim),
        _ => Err(bad),
    }
}

fn registry() -> InMemoryRegistry {
    let tenant = |id: &str, plan: Plan, is_active| Tenant {
        id: id.parse().unwrap(),
        slug: id.parse().unwrap(),
        name: id.to_owned(),
        plan,
        schema_name: format!("tenant_{id}").parse().unwrap(),
        is_active,
        limits: None,
        placement: Default::default(),
        created_at: SystemTime::UNIX_EPOCH,
        updated_at: SystemTime::UNIX_EPOCH,
    };
    InMemoryRegistry::new([
        tenant("acme", Plan::Enterprise, true),
        tenant("globex", Plan::Free, true),
        tenant("dormant", Plan::Pro, false),
    ])
    .unwrap()
}

// --- the properties ----------------------------------------------------------------------------

#[test]
fn activity_inputs_decode_and_verify_exactly_as_the_contract_says() {
    let registry = registry();
    let config = TenancyConfig::default();
    runner()
        .run(&payload(), |payload| {
            // The SDK's converter hands the worker any JSON: never a retryable conversion error.
            // The decode is the worker's own (crate-private); a workflow input opens with the
            // same one.
            let _: ActivityInput<RunMigrationsInput> =
                serde_json::from_value(payload.clone()).unwrap();
            let received: WorkflowInput<RunMigrationsInput> =
                serde_json::from_value(payload.clone()).unwrap();
            let expected = reference(&payload);
            match (received.open(), expected) {
                (Ok(input), Ok((tenant, schema, _))) => {
                    prop_assert_eq!(input.ctx.tenant_id().as_str(), tenant.as_str());
                    let verified =
                        futures::executor::block_on(input.ctx.verify(&registry, &config));
                    let active = ["acme", "globex"].contains(&tenant.as_str());
                    let schema_ok = schema.is_none_or(|s| s == format!("tenant_{tenant}"));
                    match verified {
                        Ok(ctx) => {
                            prop_assert!(active && schema_ok, "{tenant} {ctx:?}");
                            prop_assert_eq!(ctx.tenant_id().as_str(), tenant.as_str());
                            // The registry's schema and plan, whatever the claim said.
                            prop_assert_eq!(
                                ctx.schema_name().to_string(),
                                format!("tenant_{tenant}")
                            );
                            let plan = if tenant == "acme" {
                                Plan::Enterprise
                            } else {
                                Plan::Free
                            };
                            prop_assert_eq!(ctx.plan(), &plan);
                        }
                        Err(ClaimError::Unknown) => {
                            prop_assert!(!["acme", "globex", "dormant"].contains(&tenant.as_str()))
                        }
                        Err(ClaimError::Inactive) => prop_assert_eq!(tenant.as_str(), "dormant"),
                        Err(ClaimError::SchemaMismatch) => prop_assert!(active && !schema_ok),
                        Err(other) => prop_assert!(false, "{other:?}"),
                    }
                }
                (Err(failure), Err(paths)) => {
                    let message = failure.source_error().to_string();
                    prop_assert!(
                        paths
                            .iter()
                            .any(|path| message.contains(&format!("at `{path}`: "))),
                        "{message}, expected one of {paths:?}"
                    );
                }
                (Ok(input), Err(paths)) => {
                    prop_assert!(false, "decoded {input:?}, expected {paths:?}")
                }
                (Err(failure), Ok(_)) => prop_assert!(false, "refused: {failure:?}"),
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn workflow_inputs_open_exactly_as_the_contract_says() {
    runner()
        .run(&payload(), |payload| {
            let received: WorkflowInput<RunMigrationsInput> =
                serde_json::from_value(payload.clone()).unwrap();
            match (received.open(), reference(&payload)) {
                (Ok(input), Ok((tenant, ..))) => {
                    prop_assert_eq!(input.ctx.tenant_id().as_str(), tenant.as_str());
                }
                (Err(failure), Err(paths)) => {
                    prop_assert!(failure.is_non_retryable());
                    prop_assert_eq!(failure.type_name(), Some(INPUT_REJECTED));
                    let message = failure.source_error().to_string();
                    prop_assert!(
                        paths
                            .iter()
                            .any(|path| message.contains(&format!("at `{path}`"))),
                        "{message}, expected one of {paths:?}"
                    );
                }
                (Ok(input), Err(paths)) => {
                    prop_assert!(false, "opened {input:?}, expected {paths:?}")
                }
                (Err(failure), Ok(_)) => prop_assert!(false, "refused: {failure:?}"),
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn arbitrary_bytes_are_refused_or_decoded_never_a_panic() {
    runner()
        .run(&prop::collection::vec(any::<u8>(), 0..64), |bytes| {
            // Not JSON is the SDK converter's refusal; JSON of any shape reaches the decode.
            if let Ok(received) =
                serde_json::from_slice::<WorkflowInput<RunMigrationsInput>>(&bytes)
            {
                let value: Value = serde_json::from_slice(&bytes).unwrap();
                prop_assert_eq!(received.open().is_ok(), reference(&value).is_ok());
            }
            Ok(())
        })
        .unwrap();
}
