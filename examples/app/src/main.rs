//! `example-app [sqlite-url]`: creates the tables on a SQLite database (in memory unless a URL
//! is given), seeds a demo tenant, and prints its open tasks per customer.

use example_app::sqlite::{create_tables, open_tasks_per_customer};
use example_app::{Customer, NewCustomer, NewProject, NewTask, Project, Status, Task};
use tenant::sqlx::TenantTx;
use tenant::{Plan, TenantCtx};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "sqlite::memory:".to_owned());
    let pool = sqlx::SqlitePool::connect(&url).await?;
    // A health check: plain SQL, no tenant table, listed by `cargo tenant-audit` as such.
    let one: i64 = sqlx::query_scalar("SELECT 1").fetch_one(&pool).await?;
    assert_eq!(one, 1, "the database answers");
    create_tables(&pool).await?;

    // The demo tenant is the program's own (no request to verify): the loud exception, listed
    // by `cargo tenant-audit`.
    let demo = TenantCtx::trusted("demo".parse()?, "tenant_demo".parse()?, Plan::Free);
    let mut tx = TenantTx::begin(&pool, &demo).await?;
    tx.repo::<Customer>()
        .insert(
            &demo,
            NewCustomer {
                id: 1,
                name: "Road Runner Inc.".into(),
            },
        )
        .await?;
    tx.repo::<Project>()
        .insert(
            &demo,
            NewProject {
                id: 1,
                customer_id: 1,
                title: "Catch nothing".into(),
            },
        )
        .await?;
    for (id, status) in [(1, Status::Open), (2, Status::Done), (3, Status::Doing)] {
        tx.repo::<Task>()
            .insert(
                &demo,
                NewTask {
                    id,
                    project_id: 1,
                    summary: format!("task {id}"),
                    status,
                    estimate: None,
                },
            )
            .await?;
    }
    for (customer, open) in open_tasks_per_customer(&demo, &mut tx).await? {
        println!("{customer}: {open} open task(s)");
    }
    tx.commit().await?;
    Ok(())
}
