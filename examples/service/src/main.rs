//! A small HTTP API over `#[tenant_scoped]` entities: on in-memory SQLite, or on PostgreSQL when
//! `DATABASE_URL` is set.
//!
//! `cargo run -p example-service` serves on 127.0.0.1:3000 (`PORT` to change) and prints
//! curl calls to try. Tenancy comes from `MULTI_TENANCY_ENABLED`, `DEFAULT_TENANT_ID` and
//! `ALLOWED_TENANTS`.

use example_service as app;

use tenant::TenancyConfig;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_ansi(false)
        .init();
    let config = TenancyConfig::from_env()?;
    let db = match std::env::var("DATABASE_URL") {
        Ok(url) => app::Db::Postgres(sqlx::PgPool::connect(&url).await?),
        // One connection: the requests' transactions begin IMMEDIATE (the placement check), so
        // they run one at a time anyway, and more connections to one in-memory database (which
        // sqlx shares through SQLite's shared cache) only wait on and wake each other: about 3x
        // the CPU a request (RELIABILITY.md, run 7).
        Err(_) => app::Db::Sqlite(
            sqlx::sqlite::SqlitePoolOptions::new()
                .max_connections(1)
                .connect("sqlite::memory:")
                .await?,
        ),
    };
    let router = app::app(db, config).await?;
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3000);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!(
        "serving tenants acme, globex (and inactive dormant) on http://{}",
        listener.local_addr()?
    );
    println!("  curl -H 'X-Tenant-ID: acme' localhost:{port}/invoices");
    axum::serve(listener, router).await?;
    Ok(())
}
