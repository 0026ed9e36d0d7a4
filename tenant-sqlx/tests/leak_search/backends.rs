//! The backends a program runs on: a fresh database of each kind, with its tables and every
//! tenant's groups, and what its closing drops.

use tenant_testkit::SqliteFile;

use super::exec::{on_postgres, on_sqlite};
use super::model::Mode;
use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BackendKind {
    Sqlite,
    Postgres,
    PostgresRls,
    PostgresSchema,
    /// Two SQLite files behind a pool set, tenants spread over both, moves in the program.
    SqlitePlaced,
    /// The same on two private PostgreSQL servers (their superuser URLs).
    PostgresPlaced(&'static [String; 2]),
}

#[derive(Clone)]
pub(crate) enum Db {
    Sqlite(SqliteFile),
    Postgres(sqlx::PgPool),
    /// The application role's pool; row-level security is on.
    Rls(sqlx::PgPool),
    /// The owner's pool, whose own search path names no schema that exists, and every
    /// tenant's context, each with this run's schema of that tenant.
    Schema(sqlx::PgPool, Arc<Vec<TenantCtx>>),
    SqlitePlaced(Arc<placed::Placed<sqlx::Sqlite>>),
    PostgresPlaced(Arc<placed::Placed<sqlx::Postgres>>),
}

impl Db {
    pub(crate) fn mode(&self) -> Mode {
        match self {
            Db::Sqlite(..) | Db::Postgres(_) | Db::SqlitePlaced(_) | Db::PostgresPlaced(_) => {
                Mode::Predicates
            }
            Db::Rls(_) => Mode::Rls,
            Db::Schema(..) => Mode::Schema,
        }
    }

    /// Tenant `t`'s context: with a schema per tenant, the one naming this run's schema.
    pub(crate) fn ctx(&self, t: usize) -> TenantCtx {
        match self {
            Db::Schema(_, tenants) => tenants[t].clone(),
            Db::SqlitePlaced(placed) => placed.ctx(t),
            Db::PostgresPlaced(placed) => placed.ctx(t),
            _ => ctx(t),
        }
    }

    pub(crate) async fn close(self) {
        match self {
            Db::Schema(pool, tenants) => {
                let sys = ProvisionCtx::new("leak search: drop the run's tenant schemas").unwrap();
                for ctx in tenants.iter() {
                    tenant_schema()
                        .drop(&sys, &pool, ctx.schema_name())
                        .await
                        .unwrap();
                }
                pool.close().await;
            }
            Db::Sqlite(file) => file.remove().await,
            Db::Postgres(pool) | Db::Rls(pool) => pool.close().await,
            Db::SqlitePlaced(placed) => placed.close().await,
            Db::PostgresPlaced(placed) => placed.close().await,
        }
    }
}

/// A fresh database with the tables and every tenant's groups, or `None` when the backend's
/// server is not configured.
pub(crate) async fn fresh(kind: BackendKind) -> Option<Db> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, AtomicOrdering::Relaxed);
    match kind {
        BackendKind::Sqlite => {
            let file = SqliteFile::create("tenant_leak_search").await.unwrap();
            on_sqlite::create(file.pool()).await.unwrap();
            Some(Db::Sqlite(file))
        }
        BackendKind::Postgres => {
            let pool = support::postgres(&format!("leak_search_{n}")).await?;
            on_postgres::create(&pool).await.unwrap();
            Some(Db::Postgres(pool))
        }
        BackendKind::PostgresRls => {
            let (owner, app) =
                support::postgres_app_role(&format!("leak_search_rls_{n}"), 8).await?;
            on_postgres::create(&owner).await.unwrap();
            support::install_row_security(&owner).await;
            GroupRepo::new(&owner).row_level_security().await.unwrap();
            ItemRepo::new(&owner).row_level_security().await.unwrap();
            owner.close().await;
            Some(Db::Rls(app))
        }
        BackendKind::PostgresSchema => {
            use std::str::FromStr;

            use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

            let url = support::server_var("DATABASE_URL", "leak_search on a schema per tenant")?;
            let prefix = support::unique_name("leak");
            // The pool's own search path is a schema never created: outside a tenant's
            // transaction no `leak_items` resolves (the unbound count expects that error).
            let options = PgConnectOptions::from_str(&url)
                .unwrap()
                .options([("search_path", format!("{prefix}_none"))]);
            let pool = PgPoolOptions::new()
                .max_connections(TASKS as u32)
                .connect_with(options)
                .await
                .expect("connect to DATABASE_URL");
            let tenants: Vec<TenantCtx> = (0..TENANTS)
                .map(|t| {
                    let schema = format!("{prefix}_{}", tenant_name(t));
                    TenantCtx::trusted(
                        tenant_name(t).parse().unwrap(),
                        schema.parse().unwrap(),
                        Plan::Free,
                    )
                })
                .collect();
            let sys = ProvisionCtx::new("leak search: provision the run's tenant schemas").unwrap();
            for (t, ctx) in tenants.iter().enumerate() {
                let schema = tenant_schema();
                // Nothing of an earlier run may be reused.
                schema.drop(&sys, &pool, ctx.schema_name()).await.unwrap();
                schema.create(&sys, &pool, ctx.schema_name()).await.unwrap();
                // Each schema holds its own tenant's groups only.
                let mut tx = TenantTx::begin_in_schema(&pool, ctx).await.unwrap();
                tx.repo::<Group>()
                    .insert_many(ctx, tenant_groups(t))
                    .await
                    .unwrap();
                tx.commit().await.unwrap();
            }
            Some(Db::Schema(pool, Arc::new(tenants)))
        }
        BackendKind::SqlitePlaced => Some(Db::SqlitePlaced(Arc::new(placed::sqlite().await))),
        BackendKind::PostgresPlaced(urls) => Some(Db::PostgresPlaced(Arc::new(
            placed::postgres(urls, n).await,
        ))),
    }
}

/// Every tenant's schema, with a schema per tenant.
fn tenant_schema() -> TenantSchema {
    TenantSchema::new().entity::<Group>().entity::<Item>()
}
