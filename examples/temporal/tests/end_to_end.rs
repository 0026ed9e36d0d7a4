//! The provisioning workflow of `src/bin/worker.rs`, for real, on the Temporal server at
//! `TEMPORAL_ADDRESS` and the PostgreSQL database at `DATABASE_URL` (`.ci/run` starts both): each
//! activity sees its own tenant, runs on the routed task queue with the tenant's priority, and a
//! payload with a missing, malformed or misrouted context is refused without a retry and without
//! running the body. Each tenant gets a schema of its own, with its tables, the application's
//! migration and its rows; offboarding drops it and leaves the other tenant's intact.
//!
//! One test function: the workers of a fleet poll fixed task queues, so two fleets in one process
//! would take each other's tasks.

use example_temporal as provisioning;

#[path = "common/journal.rs"]
mod journal;
#[path = "common/raw.rs"]
mod raw;

use std::error::Error;
use std::time::{SystemTime, UNIX_EPOCH};

use journal::Journal;
use provisioning::{
    ActivityRecord, Membership, OffboardTenant, ProvisionRequest, ProvisionTenant, Provisioning,
    activity_route, system_queue, workflow_route,
};
use raw::{ForwardRaw, RawCall, RawOutcome};
use serde_json::json;
use sqlx::{AssertSqlSafe, PgPool};
use temporalio_client::errors::WorkflowGetResultError;
use temporalio_client::{Client, WorkflowDescribeOptions, WorkflowGetResultOptions};
use temporalio_common::error::IncomingError;
use tenant::routing::{FairnessWeight, QueueKind};
use tenant::sqlx::TenantTx;
use tenant::temporal::RouteExt;
use tenant::temporal::{INPUT_REJECTED, SYSTEM_FAIRNESS_KEY, WorkflowInput};
use tenant::{Plan, SignedClaim, SigningKeys, TenantCtx};

/// The claim keys of the test's fleet.
const CLAIM_KEYS: &str = "claims1:tlL9C3QBIVlBWxotkSiN2fBkFH9h2Y3eQ+jLNdhOimU=";

fn temporal_address() -> Option<String> {
    tenant_test_support::server_var("TEMPORAL_ADDRESS", "the Temporal end-to-end test")
}

fn unique() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// acme and globex: fixed ids (the registry is in the test's own fresh schema, and these two
/// land on different shards), with schemas unique per run, because schemas are database-wide.
fn tenants(run: u128) -> Result<[TenantCtx; 2], Box<dyn Error>> {
    Ok([
        TenantCtx::trusted(
            "acme".parse()?,
            format!("tenant_acme_{run}").parse()?,
            Plan::Enterprise,
        ),
        TenantCtx::trusted(
            "globex".parse()?,
            format!("tenant_globex_{run}").parse()?,
            Plan::Free,
        ),
    ])
}

async fn schema_exists(pool: &PgPool, schema: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1)")
        .bind(schema)
        .fetch_one(pool)
        .await
}

/// The tables of `schema`, by name.
async fn tables(pool: &PgPool, schema: &str) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = $1 ORDER BY table_name",
    )
    .bind(schema)
    .fetch_all(pool)
    .await
}

/// The rows of `<schema>.memberships`, read by qualified name: (tenant_id, user_id).
async fn memberships_in(pool: &PgPool, schema: &str) -> Result<Vec<(String, String)>, sqlx::Error> {
    sqlx::query_as(AssertSqlSafe(format!(
        "SELECT tenant_id, user_id FROM {schema}.memberships ORDER BY user_id"
    )))
    .fetch_all(pool)
    .await
}

fn expected_weight(ctx: &TenantCtx) -> f32 {
    FairnessWeight::for_plan(ctx.plan(), &Default::default()).get() as f32
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provisioning_workflow_end_to_end() -> Result<(), Box<dyn Error>> {
    let Some(address) = temporal_address() else {
        return Ok(());
    };
    // A fresh schema of the database: the registry's, the pool's default.
    let Some(pool) = tenant_test_support::postgres("the Temporal end-to-end test").await else {
        return Ok(());
    };
    let client = provisioning::connect(&address).await?;
    let run = unique();
    let tenants = tenants(run)?;
    let journal = Journal::default();
    let activities = journal.observe(Provisioning::new(pool.clone(), CLAIM_KEYS.parse()?).await?);
    // The example's workers, and the raw calls' workflow on them.
    let outcome = raw::with_workers(
        &client,
        &activities,
        scenario(&client, &activities, &journal, run, tenants.clone()),
    )
    .await;
    // The tenants' schemas are outside the test's own: drop what offboarding left.
    for ctx in &tenants {
        sqlx::query(AssertSqlSafe(format!(
            "DROP SCHEMA IF EXISTS {} CASCADE",
            ctx.schema_name()
        )))
        .execute(&pool)
        .await?;
    }
    outcome
}

async fn scenario(
    client: &Client,
    activities: &Provisioning,
    journal: &Journal,
    run: u128,
    [acme, globex]: [TenantCtx; 2],
) -> Result<(), Box<dyn Error>> {
    let pool = activities.pool();
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
        // The starter signs the tenant's claim from the registry's context.
        let request: ProvisionRequest = activities
            .provision_request(ctx.tenant_id(), format!("owner-of-{}", ctx.tenant_id()))
            .await?;
        let handle = client
            .start_workflow(ProvisionTenant::run, request.into(), options)
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
        let activity_queue =
            activity_route(&activities.sign_claim(ctx.tenant_id()).await?).task_queue;
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
    let acme_claim = activities.sign_claim(acme.tenant_id()).await?;
    // Signed while globex is active, sent after it is offboarded (step 4).
    let globex_claim = activities.sign_claim(globex.tenant_id()).await?;
    let acme_queue = activity_route(&acme_claim).task_queue;
    let globex_queue = activity_route(&globex_claim).task_queue;
    assert_ne!(
        acme_queue, globex_queue,
        "the fixture tenants are meant to land on different shards"
    );

    // Each tenant has a schema of its own, the one the registry names, with the tenant tables
    // and the application's migration, holding its own owner only.
    assert_ne!(acme.schema_name(), globex.schema_name());
    for ctx in [&acme, &globex] {
        let schema = ctx.schema_name().as_str();
        assert!(schema_exists(pool, schema).await?, "{schema}");
        assert_eq!(
            tables(pool, schema).await?,
            [
                "comments",
                "documents",
                "memberships",
                "settings",
                "tenant_status"
            ],
            "{schema}"
        );
        let owner = format!("owner-of-{}", ctx.tenant_id());
        assert_eq!(
            memberships_in(pool, schema).await?,
            [(ctx.tenant_id().to_string(), owner.clone())]
        );
        let locale: String = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT value FROM {schema}.settings WHERE key = 'locale'"
        )))
        .fetch_one(pool)
        .await?;
        assert_eq!(locale, "en");
        // The repository, in a transaction in the tenant's schema, sees the same.
        let mut tx = TenantTx::begin_in_schema(pool, ctx).await?;
        let rows = tx.repo::<Membership>().list(ctx).await?;
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].user_id, owner);
        tx.rollback().await?;
    }
    // No tenant table in the registry's schema: nothing is shared between tenants.
    let shared: Option<String> = sqlx::query_scalar("SELECT to_regclass('memberships')::text")
        .fetch_one(pool)
        .await?;
    assert_eq!(shared, None);

    // 2. Payloads and routes the typed API cannot produce: each refused, non-retryable, the body
    //    never run.
    let migrate = Provisioning::run_tenant_migrations.name();
    let good_ctx = serde_json::to_value(&acme_claim)?;
    let mut injected = good_ctx.clone();
    injected["tenant_id"] = json!("acme'; DROP TABLE memberships; --");
    let mut extra_field = good_ctx.clone();
    extra_field["is_admin"] = json!(true);
    let mut no_tenant = good_ctx.clone();
    no_tenant.as_object_mut().unwrap().remove("tenant_id");
    // A key holder's claims the registry does not vouch for: an unknown tenant, and acme with
    // globex's schema.
    let keys: SigningKeys = CLAIM_KEYS.parse()?;
    let audience = activities.fleet().routing().audience();
    let lifetime = std::time::Duration::from_secs(600);
    let signed = |ctx: &TenantCtx| SignedClaim::sign(ctx, &keys, &audience, lifetime);
    let other_schema = serde_json::to_value(signed(&TenantCtx::trusted(
        acme.tenant_id().clone(),
        globex.schema_name().clone(),
        Plan::Enterprise,
    ))?)?;
    let initech_claim = signed(&TenantCtx::trusted(
        "initech".parse()?,
        "tenant_initech".parse()?,
        Plan::Enterprise,
    ))?;
    let initech_queue = activity_route(&initech_claim).task_queue;
    let initech = serde_json::to_value(&initech_claim)?;
    let acme_route = || (acme_queue.clone(), Some("acme".to_owned()));
    let refused = [
        (
            "missing ctx",
            migrate,
            json!({ "target_version": 3 }),
            acme_route(),
        ),
        (
            "null ctx",
            migrate,
            json!({ "ctx": null, "target_version": 3 }),
            acme_route(),
        ),
        (
            "ctx without tenant",
            migrate,
            json!({ "ctx": no_tenant, "target_version": 3 }),
            acme_route(),
        ),
        (
            "injected tenant id",
            migrate,
            json!({ "ctx": injected, "target_version": 3 }),
            acme_route(),
        ),
        (
            "unknown input field",
            migrate,
            json!({ "ctx": good_ctx, "target_version": 3, "tenant": "globex" }),
            acme_route(),
        ),
        (
            "garbage payload",
            migrate,
            json!(["not", "an", "input"]),
            acme_route(),
        ),
        // A valid claim on another tenant's route: the fairness key and the tenant disagree.
        (
            "misrouted ctx",
            migrate,
            json!({ "ctx": good_ctx, "target_version": 3 }),
            (globex_queue.clone(), Some("globex".to_owned())),
        ),
        // The tenant's own key, but another shard's queue.
        (
            "another shard's queue",
            migrate,
            json!({ "ctx": good_ctx, "target_version": 3 }),
            (globex_queue.clone(), Some("acme".to_owned())),
        ),
        // No fairness key at all (the workflow has none either, so nothing is inherited).
        (
            "no fairness key",
            migrate,
            json!({ "ctx": good_ctx, "target_version": 3 }),
            (acme_queue.clone(), None),
        ),
        (
            "system key on a tenant activity",
            migrate,
            json!({ "ctx": good_ctx, "target_version": 3 }),
            (acme_queue.clone(), Some(SYSTEM_FAIRNESS_KEY.to_owned())),
        ),
        // Well-formed and well-routed, but the registry does not vouch for it.
        (
            "unknown tenant",
            migrate,
            json!({ "ctx": initech, "target_version": 3 }),
            (initech_queue, Some("initech".to_owned())),
        ),
        (
            "schema of another tenant",
            migrate,
            json!({ "ctx": other_schema, "target_version": 3 }),
            acme_route(),
        ),
        // A system activity on a tenant's key would be counted against, and routed as, it.
        (
            "system activity with a tenant key",
            Provisioning::system_cleanup.name(),
            json!({}),
            (system_queue(), Some("acme".to_owned())),
        ),
    ];
    for (case, activity, payload, (queue, key)) in refused {
        let outcome = forward(client, run, case, activity, payload, queue, key).await?;
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
        migrate,
        json!({ "ctx": good_ctx, "target_version": 3 }),
        globex_queue.clone(),
        Some("globex".to_owned()),
    )
    .await?;
    assert!(misrouted.message.contains("fairness key"), "{misrouted:?}");
    // The same path with a sound payload runs: the refusals above are the payloads' doing.
    let control = forward(
        client,
        run,
        "control",
        migrate,
        json!({ "ctx": good_ctx, "target_version": 3 }),
        acme_queue.clone(),
        Some("acme".to_owned()),
    )
    .await?;
    assert!(control.completed, "{control:?}");
    assert_eq!(journal_entries(journal, "control", run), 1);
    // A refusal of a bad value names its JSON path.
    let injected_message = forward(
        client,
        run,
        "injected-message",
        migrate,
        json!({ "ctx": injected, "target_version": 3 }),
        acme_queue.clone(),
        Some("acme".to_owned()),
    )
    .await?;
    assert!(
        injected_message.message.contains("at `ctx.tenant_id`"),
        "{injected_message:?}"
    );
    // A signed claim with a field it does not sign is refused: nothing unsigned rides along.
    let extra = forward(
        client,
        run,
        "ctx with an extra field",
        migrate,
        json!({ "ctx": extra_field, "target_version": 3 }),
        acme_queue.clone(),
        Some("acme".to_owned()),
    )
    .await?;
    assert!(!extra.completed, "{extra:?}");
    assert!(
        extra.message.contains("unknown field `is_admin`"),
        "{extra:?}"
    );
    assert_eq!(journal_entries(journal, "ctx with an extra field", run), 0);

    // 2b. Workflow inputs the typed API cannot produce: the workflow fails, typed and
    //     non-retryable, instead of its task being retried for ever.
    let forged_inputs = [
        (
            "forged claim",
            json!({ "ctx": { "tenant_id": "ACME" }, "owner": "x" }),
        ),
        ("no claim", json!({ "owner": "x" })),
        (
            "unknown field",
            json!({ "ctx": acme_claim, "owner": "x", "admin": true }),
        ),
        ("garbage", json!(["not", "a", "request"])),
    ];
    for (case, payload) in forged_inputs {
        let input: WorkflowInput<ProvisionRequest> = serde_json::from_value(payload)?;
        let options = workflow_route(&acme)
            .workflow_start_options(format!("forged-{}-{run}", case.replace(' ', "-")));
        let result = client
            .start_workflow(ProvisionTenant::run, input, options)
            .await?
            .get_result(WorkflowGetResultOptions::default())
            .await;
        match result {
            Err(WorkflowGetResultError::Failed(error)) => match *error {
                IncomingError::Application(failure) => {
                    assert_eq!(failure.type_name(), Some(INPUT_REJECTED), "{case}");
                    assert!(failure.is_non_retryable(), "{case}");
                }
                other => panic!("{case}: {other:?}"),
            },
            other => panic!("{case}: {other:?}"),
        }
    }

    // 3. Offboarding globex: its schema goes, the system activity sees it as stale first, acme's
    //    schema and rows stay.
    let options = workflow_route(&globex).workflow_start_options(format!("offboard-globex-{run}"));
    let report = client
        .start_workflow(
            OffboardTenant::run,
            activities
                .offboard_request(globex.tenant_id())
                .await?
                .into(),
            options,
        )
        .await?
        .get_result(WorkflowGetResultOptions::default())
        .await?;
    assert!(report.deactivated);
    assert_eq!(report.stale_before_drop, ["globex"]);
    assert_eq!(report.dropped_schema, globex.schema_name().as_str());
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
    assert!(!schema_exists(pool, globex.schema_name().as_str()).await?);
    // Its tables are gone: a query in its schema fails, with no shared table to fall back to.
    let mut tx = TenantTx::begin_in_schema(pool, &globex).await?;
    assert!(tx.repo::<Membership>().list(&globex).await.is_err());
    drop(tx);
    let kept = acme.schema_name().as_str();
    assert!(schema_exists(pool, kept).await?);
    assert_eq!(
        tables(pool, kept).await?,
        [
            "comments",
            "documents",
            "memberships",
            "settings",
            "tenant_status"
        ]
    );
    assert_eq!(
        memberships_in(pool, kept).await?,
        [("acme".to_owned(), "owner-of-acme".to_owned())]
    );

    // 4. Offboarded, globex is inactive: a claim for it, on its own route, is refused.
    let inactive = forward(
        client,
        run,
        "inactive tenant",
        Provisioning::run_tenant_migrations.name(),
        json!({ "ctx": globex_claim, "target_version": 3 }),
        globex_queue,
        Some("globex".to_owned()),
    )
    .await?;
    assert!(!inactive.completed, "{inactive:?}");
    assert_eq!(
        inactive.failure_type.as_deref(),
        Some(INPUT_REJECTED),
        "{inactive:?}"
    );
    assert!(inactive.non_retryable, "{inactive:?}");
    assert!(inactive.message.contains("not active"), "{inactive:?}");
    assert_eq!(journal_entries(journal, "inactive tenant", run), 0);
    Ok(())
}

fn raw_workflow_id(case: &str, run: u128) -> String {
    format!("raw-{}-{run}", case.replace(' ', "-"))
}

async fn forward(
    client: &Client,
    run: u128,
    case: &str,
    activity: &str,
    payload: serde_json::Value,
    task_queue: String,
    fairness_key: Option<String>,
) -> Result<RawOutcome, Box<dyn Error>> {
    let mut options = temporalio_client::WorkflowStartOptions::new(
        provisioning::all_task_queues()[0].clone(),
        raw_workflow_id(case, run),
    )
    .build();
    // Without a priority of its own the activity would inherit the workflow's: give the
    // workflow none, so a case without a key really has none.
    options.priority = Default::default();
    let call = RawCall {
        activity: activity.into(),
        payload,
        task_queue,
        fairness_weight: weight_for(fairness_key.as_deref()),
        fairness_key,
        priority_key: None,
    };
    Ok(client
        .start_workflow(ForwardRaw::run, call, options)
        .await?
        .get_result(WorkflowGetResultOptions::default())
        .await?)
}

/// The fairness weight a task keyed `key` is sent with: the weight of the plan of that tenant's
/// signed claim (acme and initech enterprise, globex free), none otherwise.
fn weight_for(key: Option<&str>) -> Option<f32> {
    let plan = match key? {
        "acme" | "initech" => Plan::Enterprise,
        "globex" => Plan::Free,
        _ => return None,
    };
    Some(FairnessWeight::for_plan(&plan, &Default::default()).get() as f32)
}

fn journal_entries(journal: &Journal, case: &str, run: u128) -> usize {
    let id = raw_workflow_id(case, run);
    journal
        .records()
        .iter()
        .filter(|r| r.workflow_id.as_deref() == Some(id.as_str()))
        .count()
}
