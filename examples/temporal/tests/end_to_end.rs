//! The provisioning workflow of `examples/worker.rs`, for real, on the Temporal server at
//! `TEMPORAL_ADDRESS` (`.ci/run` starts one): each activity sees its own tenant, runs on the
//! routed task queue with the tenant's priority, and a payload with a missing, malformed or
//! misrouted context is refused without a retry and without running the body.
//!
//! One test function: the workers of a fleet poll fixed task queues, so two fleets in one process
//! would take each other's tasks.

use example_temporal as provisioning;

use std::error::Error;
use std::time::{SystemTime, UNIX_EPOCH};

use provisioning::{
    ActivityRecord, ForwardRaw, Journal, MembershipRepo, OffboardTenant, ProvisionRequest,
    ProvisionTenant, Provisioning, RawCall, RawOutcome, activity_route, system_queue,
    workflow_route,
};
use serde_json::json;
use temporalio_client::{Client, WorkflowDescribeOptions, WorkflowGetResultOptions};
use tenant::TenantCtx;
use tenant::routing::{FairnessWeight, QueueKind};
use tenant::temporal::INPUT_REJECTED;
use tenant::temporal::RouteExt;

fn temporal_address() -> Option<String> {
    tenant_test_support::server_var("TEMPORAL_ADDRESS", "the Temporal end-to-end test")
}

fn unique() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

fn expected_weight(ctx: &TenantCtx) -> f32 {
    FairnessWeight::for_plan(ctx.plan(), &Default::default()).get() as f32
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provisioning_workflow_end_to_end() -> Result<(), Box<dyn Error>> {
    let Some(address) = temporal_address() else {
        return Ok(());
    };
    let client = provisioning::connect(&address).await?;
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect("sqlite::memory:")
        .await?;
    let journal = Journal::default();
    let activities = Provisioning::new(pool, journal.clone()).await?;
    provisioning::with_workers(
        &client,
        &activities,
        scenario(&client, &activities, &journal),
    )
    .await
}

async fn scenario(
    client: &Client,
    activities: &Provisioning,
    journal: &Journal,
) -> Result<(), Box<dyn Error>> {
    let run = unique();
    let [acme, globex] = provisioning::tenants()?;
    assert_ne!(
        expected_weight(&acme),
        expected_weight(&globex),
        "the two tenants must be on plans of different weights"
    );

    // 1. Both tenants provisioned concurrently, each workflow routed for its tenant.
    let mut started = Vec::new();
    for ctx in [&acme, &globex] {
        activities.register(ctx, "test tenant").await?;
        let id = format!("provision-{}-{run}", ctx.tenant_id());
        let options = workflow_route(ctx).workflow_start_options(id.clone());
        let request = ProvisionRequest {
            ctx: ctx.clone(),
            owner: format!("owner-of-{}", ctx.tenant_id()),
        };
        let handle = client
            .start_workflow(ProvisionTenant::run, request, options)
            .await?;
        started.push((ctx.clone(), id, handle));
    }
    for (ctx, id, handle) in &started {
        let report = handle
            .get_result(WorkflowGetResultOptions::default())
            .await?;
        assert_eq!(report.info.tenant_id, ctx.tenant_id().as_str());
        assert_eq!(report.info.plan, ctx.plan().to_string());
        assert_eq!(report.info.schema_name, ctx.schema_name().as_str());
        assert!(report.info.active);
        assert_eq!(report.schema_version, provisioning::SCHEMA_VERSION);
        assert_eq!(report.state, "active");

        // The workflow ran on its routed queue with its tenant's priority.
        let description = handle.describe(WorkflowDescribeOptions::default()).await?;
        let info = description
            .raw_description
            .workflow_execution_info
            .as_ref()
            .expect("execution info");
        let route = workflow_route(ctx);
        assert_eq!(info.task_queue, route.task_queue, "{id}");
        assert!(route.task_queue.contains(QueueKind::Workflow.as_str()));
        let priority = info.priority.as_ref().expect("workflow priority");
        assert_eq!(priority.fairness_key, ctx.tenant_id().as_str(), "{id}");
        assert_eq!(priority.fairness_weight, expected_weight(ctx), "{id}");

        // Every activity saw this tenant, on the tenant's activity queue, with its priority.
        let records: Vec<ActivityRecord> = journal
            .records()
            .into_iter()
            .filter(|r| r.workflow_id.as_deref() == Some(id.as_str()))
            .collect();
        let names: Vec<&str> = records.iter().map(|r| r.activity.as_str()).collect();
        assert_eq!(
            names,
            [
                Provisioning::get_tenant_info.name(),
                Provisioning::run_tenant_migrations.name(),
                Provisioning::create_membership.name(),
                Provisioning::update_tenant_status.name(),
            ],
            "{id}"
        );
        let activity_queue = activity_route(ctx).task_queue;
        for record in &records {
            assert_eq!(record.tenant.as_deref(), Some(ctx.tenant_id().as_str()));
            assert_eq!(record.task_queue, activity_queue, "{record:?}");
            assert_eq!(
                record.fairness_key.as_deref(),
                Some(ctx.tenant_id().as_str())
            );
            assert_eq!(record.fairness_weight, Some(expected_weight(ctx)));
        }
    }
    assert_ne!(
        activity_route(&acme).task_queue,
        activity_route(&globex).task_queue,
        "the fixture tenants are meant to land on different shards"
    );

    // Each tenant's data holds its own owner only.
    let mut memberships = MembershipRepo::new(activities.pool());
    for ctx in [&acme, &globex] {
        let rows = memberships.list(ctx).await?;
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].user_id, format!("owner-of-{}", ctx.tenant_id()));
    }

    // 2. Payloads the typed API cannot produce: each refused, non-retryable, body never run.
    let good_ctx = serde_json::to_value(&acme)?;
    let mut injected = good_ctx.clone();
    injected["tenant_id"] = json!("acme'; DROP TABLE memberships; --");
    let mut extra_field = good_ctx.clone();
    extra_field["is_admin"] = json!(true);
    let mut no_tenant = good_ctx.clone();
    no_tenant.as_object_mut().unwrap().remove("tenant_id");
    let refused = [
        ("missing ctx", json!({ "target_version": 3 }), &acme),
        (
            "null ctx",
            json!({ "ctx": null, "target_version": 3 }),
            &acme,
        ),
        (
            "ctx without tenant",
            json!({ "ctx": no_tenant, "target_version": 3 }),
            &acme,
        ),
        (
            "injected tenant id",
            json!({ "ctx": injected, "target_version": 3 }),
            &acme,
        ),
        (
            "ctx with an extra field",
            json!({ "ctx": extra_field, "target_version": 3 }),
            &acme,
        ),
        (
            "unknown input field",
            json!({ "ctx": good_ctx, "target_version": 3, "tenant": "globex" }),
            &acme,
        ),
        ("garbage payload", json!(["not", "an", "input"]), &acme),
        // A valid context on another tenant's route: the fairness key and the tenant disagree.
        (
            "misrouted ctx",
            json!({ "ctx": good_ctx, "target_version": 3 }),
            &globex,
        ),
    ];
    for (case, payload, route_for) in refused {
        let outcome = forward(client, run, case, payload, route_for).await?;
        assert!(!outcome.completed, "{case}: {outcome:?}");
        assert_eq!(
            outcome.failure_type.as_deref(),
            Some(INPUT_REJECTED),
            "{case}: {outcome:?}"
        );
        assert!(outcome.non_retryable, "{case}: {outcome:?}");
        assert!(
            !outcome.message.contains("globex"),
            "{case}: the failure names another tenant: {outcome:?}"
        );
        assert_eq!(
            journal_entries(journal, case, run),
            0,
            "{case}: the body ran"
        );
    }
    let misrouted = forward(
        client,
        run,
        "misrouted-message",
        json!({ "ctx": good_ctx, "target_version": 3 }),
        &globex,
    )
    .await?;
    assert!(misrouted.message.contains("fairness key"), "{misrouted:?}");
    // The same path with a sound payload runs: the refusals above are the payloads' doing.
    let control = forward(
        client,
        run,
        "control",
        json!({ "ctx": good_ctx, "target_version": 3 }),
        &acme,
    )
    .await?;
    assert!(control.completed, "{control:?}");
    assert_eq!(journal_entries(journal, "control", run), 1);

    // 3. Offboarding globex: its rows go, the system activity sees it as stale first, acme stays.
    let options = workflow_route(&globex).workflow_start_options(format!("offboard-globex-{run}"));
    let report = client
        .start_workflow(OffboardTenant::run, globex.clone(), options)
        .await?
        .get_result(WorkflowGetResultOptions::default())
        .await?;
    assert!(report.deactivated);
    assert_eq!(report.stale_before_drop, ["globex"]);
    assert_eq!(report.rows_deleted, 2);
    let system: Vec<ActivityRecord> = journal
        .records()
        .into_iter()
        .filter(|r| r.activity == Provisioning::system_cleanup.name())
        .collect();
    assert_eq!(system.len(), 1);
    assert_eq!(system[0].tenant, None);
    assert_eq!(system[0].task_queue, system_queue());
    // Not counted against the tenant whose workflow scheduled it.
    assert_eq!(
        system[0].fairness_key.as_deref(),
        Some(tenant::temporal::SYSTEM_FAIRNESS_KEY)
    );
    assert_eq!(memberships.list(&globex).await?.len(), 0);
    assert_eq!(memberships.list(&acme).await?.len(), 1);
    Ok(())
}

fn raw_workflow_id(case: &str, run: u128) -> String {
    format!("raw-{}-{run}", case.replace(' ', "-"))
}

async fn forward(
    client: &Client,
    run: u128,
    case: &str,
    payload: serde_json::Value,
    route_for: &TenantCtx,
) -> Result<RawOutcome, Box<dyn Error>> {
    let call = RawCall {
        activity: Provisioning::run_tenant_migrations.name().into(),
        payload,
        route_for: route_for.clone(),
    };
    let options = workflow_route(route_for).workflow_start_options(raw_workflow_id(case, run));
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
