//! Issue 21, items 1 and 6, on the Temporal server at `TEMPORAL_ADDRESS` and the PostgreSQL
//! database at `DATABASE_URL`: a scheduler who can start workflows on the namespace, but holds no
//! claim-signing key, plays every forgery it can against the example's worker. Each is refused
//! with the non-retryable `tenant.ActivityInputRejected`, and the activity body never runs.
//!
//! The claims and tokens here are signed by hand (HMAC-SHA256 over the canonical encoding that
//! `tenant::SignedClaim` documents), independently of the crate's own code.

use example_temporal as provisioning;

#[path = "common/journal.rs"]
mod journal;
#[path = "common/raw.rs"]
mod raw;

use std::error::Error;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use journal::Journal;
use provisioning::{Fleet, Provisioning};
use raw::{ForwardRaw, RawCall, RawOutcome};
use serde_json::{Value, json};
use sha2::Sha256;
use temporalio_client::{Client, WorkflowGetResultOptions};
use tenant::Plan;
use tenant::routing::{QueueKind, shard_for, task_queue_name};
use tenant::temporal::{INPUT_REJECTED, SYSTEM_FAIRNESS_KEY};

/// The worker's claim-signing key (`kid1`), as configuration text holds it.
const KEY_TEXT: &str = "kid1:tlL9C3QBIVlBWxotkSiN2fBkFH9h2Y3eQ+jLNdhOimU=";
/// A key the worker has never seen.
const OTHER_KEY: [u8; 32] = [0x42; 32];

fn key() -> Vec<u8> {
    STANDARD
        .decode(KEY_TEXT.split_once(':').unwrap().1)
        .unwrap()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// `u64` big-endian length, then the bytes: the canonical encoding's one framing.
fn framed(out: &mut Vec<u8>, field: &str) {
    out.extend_from_slice(&(field.len() as u64).to_be_bytes());
    out.extend_from_slice(field.as_bytes());
}

fn tag(key: &[u8], input: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap();
    mac.update(input);
    STANDARD.encode(mac.finalize().into_bytes())
}

/// What a claim says, before it is signed.
#[derive(Clone)]
struct Claim {
    tenant_id: String,
    schema_name: String,
    plan: String,
    namespace: String,
    queue_prefix: String,
    expires_at: u64,
    key_id: String,
}

impl Claim {
    fn signed(&self, key: &[u8]) -> Value {
        let mut input = b"tenant/claim/v1\0".to_vec();
        for field in [
            &self.key_id,
            &self.tenant_id,
            &self.schema_name,
            &self.plan,
            &self.namespace,
            &self.queue_prefix,
        ] {
            framed(&mut input, field);
        }
        input.extend_from_slice(&self.expires_at.to_be_bytes());
        json!({
            "tenant_id": self.tenant_id,
            "schema_name": self.schema_name,
            "plan": self.plan,
            "namespace": self.namespace,
            "queue_prefix": self.queue_prefix,
            "expires_at": self.expires_at,
            "key_id": self.key_id,
            "signature": tag(key, &input),
        })
    }
}

/// A system token for `reason`, signed with `key` under `key_id`.
fn system_token(reason: &str, fleet: &Fleet, expires_at: u64, key_id: &str, key: &[u8]) -> Value {
    let mut input = b"tenant/system/v1\0".to_vec();
    for field in [key_id, reason, provisioning::NAMESPACE, fleet.prefix()] {
        framed(&mut input, field);
    }
    input.extend_from_slice(&expires_at.to_be_bytes());
    json!({
        "reason": reason,
        "namespace": provisioning::NAMESPACE,
        "queue_prefix": fleet.prefix(),
        "expires_at": expires_at,
        "key_id": key_id,
        "signature": tag(key, &input),
    })
}

/// A route as a scheduler may set it: queue, fairness key and weight, priority key.
#[derive(Clone)]
struct Sent {
    task_queue: String,
    fairness_key: Option<String>,
    fairness_weight: Option<f32>,
    priority_key: Option<u32>,
}

fn route_of(fleet: &Fleet, tenant: &str, plan: &Plan) -> Sent {
    let shard = shard_for(&tenant.parse().unwrap(), provisioning::SHARDS);
    Sent {
        task_queue: task_queue_name(fleet.prefix(), QueueKind::Activity, shard),
        fairness_key: Some(tenant.to_owned()),
        fairness_weight: Some(
            tenant::routing::FairnessWeight::for_plan(plan, &Default::default()).get() as f32,
        ),
        priority_key: None,
    }
}

fn system_route(fleet: &Fleet) -> Sent {
    Sent {
        task_queue: fleet.system_queue(),
        fairness_key: Some(SYSTEM_FAIRNESS_KEY.to_owned()),
        fairness_weight: None,
        priority_key: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_claims_are_refused_before_the_body_runs() -> Result<(), Box<dyn Error>> {
    let Some(address) =
        tenant_test_support::server_var("TEMPORAL_ADDRESS", "the forged-claims test")
    else {
        return Ok(());
    };
    let Some(pool) = tenant_test_support::postgres("the forged-claims test").await else {
        return Ok(());
    };
    let client = provisioning::connect(&address).await?;
    let run = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos();
    // A fleet of its own: the end-to-end test's workers never take these tasks.
    let fleet = Fleet::new(format!("forge{run}"));
    let journal = Journal::default();
    let keys: tenant::SigningKeys = KEY_TEXT.parse()?;
    let activities =
        journal.observe(Provisioning::for_fleet(fleet.clone(), pool.clone(), keys).await?);
    for (id, plan) in [("acme", Plan::Enterprise), ("globex", Plan::Free)] {
        let ctx =
            tenant::TenantCtx::trusted(id.parse()?, format!("tenant_{id}_{run}").parse()?, plan);
        activities.register(&ctx, "forged-claims tenant").await?;
    }
    raw::with_workers(
        &client,
        &activities,
        scenario(&client, &fleet, &journal, run),
    )
    .await
}

async fn scenario(
    client: &Client,
    fleet: &Fleet,
    journal: &Journal,
    run: u128,
) -> Result<(), Box<dyn Error>> {
    let key = key();
    let info = Provisioning::get_tenant_info.name();
    let cleanup = Provisioning::system_cleanup.name();
    let cleanup_reason = "system-wide cleanup: find deactivated tenants whose schema still exists";
    let acme = Claim {
        tenant_id: "acme".into(),
        schema_name: format!("tenant_acme_{run}"),
        plan: "enterprise".into(),
        namespace: provisioning::NAMESPACE.into(),
        queue_prefix: fleet.prefix().into(),
        expires_at: now() + 600,
        key_id: "kid1".into(),
    };
    let globex = Claim {
        tenant_id: "globex".into(),
        schema_name: format!("tenant_globex_{run}"),
        plan: "free".into(),
        ..acme.clone()
    };
    let acme_route = route_of(fleet, "acme", &Plan::Enterprise);
    let globex_route = route_of(fleet, "globex", &Plan::Free);
    let with = |claim: &Claim, change: &dyn Fn(&mut Claim)| {
        let mut claim = claim.clone();
        change(&mut claim);
        claim
    };
    let ctx = |claim: Value| json!({ "ctx": claim });

    // The signature of acme's genuine claim, with one character changed.
    let mut tampered = acme.signed(&key);
    let signature = tampered["signature"].as_str().unwrap().to_owned();
    let flipped = if signature.starts_with('A') { "B" } else { "A" };
    tampered["signature"] = json!(format!("{flipped}{}", &signature[1..]));
    // acme's genuine claim, its tenant rewritten to globex's after signing.
    let mut rewritten = acme.signed(&key);
    rewritten["tenant_id"] = json!("globex");
    rewritten["schema_name"] = json!(globex.schema_name);
    rewritten["plan"] = json!("free");
    // globex's genuine (free) claim, its plan rewritten to enterprise after signing.
    let mut upgraded = globex.signed(&key);
    upgraded["plan"] = json!("enterprise");
    let mut heavier = globex_route.clone();
    heavier.fairness_weight = acme_route.fairness_weight;
    let mut jumping = acme_route.clone();
    jumping.priority_key = Some(1);
    let mut unweighted = acme_route.clone();
    unweighted.fairness_weight = None;

    let refused: Vec<(&str, &str, Value, Sent)> = vec![
        (
            "bare claim",
            info,
            ctx(json!({
                "tenant_id": "acme",
                "schema_name": acme.schema_name,
                "plan": "enterprise",
            })),
            acme_route.clone(),
        ),
        (
            "claim for another tenant",
            info,
            ctx(rewritten),
            globex_route.clone(),
        ),
        (
            "tampered signature",
            info,
            ctx(tampered),
            acme_route.clone(),
        ),
        (
            "signed with an unknown key id",
            info,
            ctx(with(&acme, &|c| c.key_id = "kid9".into()).signed(&OTHER_KEY)),
            acme_route.clone(),
        ),
        (
            "signed with another key",
            info,
            ctx(acme.signed(&OTHER_KEY)),
            acme_route.clone(),
        ),
        (
            "expired",
            info,
            ctx(with(&acme, &|c| c.expires_at = now() - 3600).signed(&key)),
            acme_route.clone(),
        ),
        (
            "another queue prefix",
            info,
            ctx(with(&acme, &|c| c.queue_prefix = "provisioning".into()).signed(&key)),
            acme_route.clone(),
        ),
        (
            "another namespace",
            info,
            ctx(with(&acme, &|c| c.namespace = "staging".into()).signed(&key)),
            acme_route.clone(),
        ),
        (
            "enterprise plan written into a free tenant's claim",
            info,
            ctx(upgraded),
            heavier.clone(),
        ),
        (
            "enterprise weight on a free tenant's claim",
            info,
            ctx(globex.signed(&key)),
            heavier,
        ),
        (
            "a priority key of its own",
            info,
            ctx(acme.signed(&key)),
            jumping,
        ),
        (
            "no fairness weight",
            info,
            ctx(acme.signed(&key)),
            unweighted,
        ),
        (
            "system activity with only the system key",
            cleanup,
            json!({}),
            system_route(fleet),
        ),
        (
            "system token for another reason",
            cleanup,
            json!({ "sys": system_token("nightly report", fleet, now() + 600, "kid1", &key) }),
            system_route(fleet),
        ),
        (
            "system token signed with another key",
            cleanup,
            json!({ "sys": system_token(cleanup_reason, fleet, now() + 600, "kid1", &OTHER_KEY) }),
            system_route(fleet),
        ),
        (
            "expired system token",
            cleanup,
            json!({ "sys": system_token(cleanup_reason, fleet, now() - 3600, "kid1", &key) }),
            system_route(fleet),
        ),
    ];
    let mut accepted = Vec::new();
    for (case, activity, payload, sent) in refused {
        let outcome = forward(client, fleet, run, case, activity, payload, sent).await?;
        let ran = journal_entries(journal, case, run);
        let refused_properly = !outcome.completed
            && outcome.failure_type.as_deref() == Some(INPUT_REJECTED)
            && outcome.non_retryable
            && ran == 0;
        if !refused_properly {
            accepted.push(format!("{case}: {outcome:?}, body ran {ran} times"));
        }
    }
    assert!(
        accepted.is_empty(),
        "forgeries not refused:\n{}",
        accepted.join("\n")
    );

    // The same paths with genuine claims and tokens run: the refusals are the forgeries' doing.
    let controls = [
        (
            "genuine acme claim",
            info,
            ctx(acme.signed(&key)),
            acme_route,
        ),
        (
            "genuine globex claim",
            info,
            ctx(globex.signed(&key)),
            globex_route,
        ),
        (
            "genuine system token",
            cleanup,
            json!({ "sys": system_token(cleanup_reason, fleet, now() + 600, "kid1", &key) }),
            system_route(fleet),
        ),
    ];
    for (case, activity, payload, sent) in controls {
        let outcome = forward(client, fleet, run, case, activity, payload, sent).await?;
        assert!(outcome.completed, "{case}: {outcome:?}");
        assert_eq!(journal_entries(journal, case, run), 1, "{case}");
    }
    Ok(())
}

fn raw_workflow_id(case: &str, run: u128) -> String {
    format!("forge-{}-{run}", case.replace(' ', "-"))
}

async fn forward(
    client: &Client,
    fleet: &Fleet,
    run: u128,
    case: &str,
    activity: &str,
    payload: Value,
    sent: Sent,
) -> Result<RawOutcome, Box<dyn Error>> {
    let mut options = temporalio_client::WorkflowStartOptions::new(
        fleet.all_task_queues()[0].clone(),
        raw_workflow_id(case, run),
    )
    .build();
    // No priority of its own, so the activity inherits none: it has exactly what `sent` says.
    options.priority = Default::default();
    let call = RawCall {
        activity: activity.into(),
        payload,
        task_queue: sent.task_queue,
        fairness_key: sent.fairness_key,
        fairness_weight: sent.fairness_weight,
        priority_key: sent.priority_key,
    };
    Ok(client
        .start_workflow(ForwardRaw::run, call, options)
        .await?
        .get_result(WorkflowGetResultOptions::default())
        .await?)
}

fn journal_entries(journal: &Journal, case: &str, run: u128) -> usize {
    let id = raw_workflow_id(case, run);
    journal
        .records()
        .iter()
        .filter(|r| r.workflow_id.as_deref() == Some(id.as_str()))
        .count()
}
