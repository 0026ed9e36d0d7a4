//! What placement costs: routing a context to its database, and the fence's check in BEGIN.
//!
//! - `routed_get`: `PoolSet::repo(&ctx)?.get(..)` (the set looks the context's placement up and
//!   hands a bound handle on that pool) against `ItemRepo::new(&pool).get(..)` on a pool chosen
//!   by hand (the floor), and `Repo::new(set.unfenced_pool(&ctx)?)` (the pool looked up, no binding);
//! - `routed_checked_get`: a checked `query_as!` read by key on `&PoolSet::route(&ctx)?` (the
//!   placement looked up, the handle bound to the tenant) against the same query on a pool
//!   chosen by hand (the floor), and on `set.unfenced_pool(&ctx)?` (looked up, no binding);
//! - `fenced_tx_get`, `fenced_tx_insert`: `PoolSet::begin(&ctx)` (routed, with the placement
//!   check in the BEGIN round trip) against today's `TenantTx::begin(&pool)` (the floor), and
//!   `TenantTx::begin_fenced(&pool)` (the check, the pool chosen by hand).
//! - `request_tx_insert`: one HTTP request through an axum router (resolver, routing, JSON body)
//!   whose handler inserts a row in `RequestTx` (begun from `RequestTxLayer`'s `TenantPool`,
//!   committed by the layer on the 201) against the same router whose handler takes `TenantCtx`
//!   and does `pools.begin(&ctx)`, insert, `commit` by hand (the floor), and the same
//!   transaction without HTTP (`TenantPool::begin`, for scale).
//!
//! SQLite in-memory always; PostgreSQL too when DATABASE_URL is set (the fence in C where the
//! server has the `tenant_rls` extension; `TENANT_BENCH_PLPGSQL=1`: in PL/pgSQL). Every version has its own
//! pool of one connection (on SQLite, its own in-memory database) seeded alike: 2 tenants of
//! 100 rows. The set holds two databases, `main` and `eu`; the tenant is placed on `eu`.

// The entity below is a benchmark fixture, public only so the macro generates what a user's
// public entity gets; it is not documented API.
#![allow(missing_docs)]

use std::sync::atomic::{AtomicI64, Ordering};

use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use criterion::Criterion;
use sqlx::sqlite::SqlitePoolOptions;
use tenant::http::{SharedResolver, TenantResolver};
use tenant::sqlx::axum::{RequestTx, RequestTxLayer};
use tenant::sqlx::{PlacementFence, PoolSet, Repo, TenantPool, TenantTx};
use tenant::{InMemoryRegistry, Plan, TenancyConfig, TenantCtx, TenantId, Tier, tenant_scoped};
use tenant_benches::{Versions, compare, fresh_schema, report};
use tower::ServiceExt;

#[tenant_scoped(table = "placed_items")]
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Item {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    pub amount: i64,
    pub name: String,
}

const ROUTED: Versions = Versions {
    subject: "routed_repo",
    floor: "pool_by_hand",
    other: "routed_pool_unbound",
};

const ROUTED_CHECKED: Versions = Versions {
    subject: "routed_checked",
    floor: "pool_by_hand",
    other: "routed_pool_unbound",
};

const REQUEST: Versions = Versions {
    subject: "request_tx",
    floor: "begin_commit_by_hand",
    other: "no_http",
};

const FENCED: Versions = Versions {
    subject: "pool_set_begin",
    floor: "tenant_tx_begin",
    other: "begin_fenced_by_hand",
};

fn ctx(tenant: &str) -> TenantCtx {
    TenantCtx::trusted(
        tenant.parse().unwrap(),
        format!("tenant_{tenant}").parse().unwrap(),
        Plan::Pro,
    )
    .with_placement("eu/shared".parse().unwrap())
}

/// The table, 100 rows of each of two tenants, and both placed (not fenced).
macro_rules! prepare {
    ($pool:expr) => {{
        let pool = $pool;
        ItemRepo::new(pool).create_table().await.unwrap();
        PlacementFence::new(pool).install().await.unwrap();
        for tenant in ["acme", "globex"] {
            let ctx = ctx(tenant);
            let rows = (1..=100)
                .map(|i| NewItem {
                    id: i,
                    amount: i * 10,
                    name: format!("item {i}"),
                })
                .collect::<Vec<_>>();
            ItemRepo::new(pool).insert_many(&ctx, rows).await.unwrap();
            PlacementFence::new(pool)
                .place(ctx.tenant_id(), Tier::Shared, false)
                .await
                .unwrap();
        }
    }};
}

/// The three groups on one backend. `$subject`, `$floor`, `$other` are three pools on databases
/// prepared alike; `$decoy` is the set's other database.
macro_rules! groups {
    ($c:expr, $rt:expr, $prefix:literal, $subject:expr, $floor:expr, $other:expr, $decoy:expr) => {{
        let (c, rt) = ($c, $rt);
        let subject_set = PoolSet::builder()
            .database("main".parse().unwrap(), $decoy.clone())
            .database("eu".parse().unwrap(), $subject.clone())
            .build()
            .unwrap();
        let other_set = PoolSet::builder()
            .database("main".parse().unwrap(), $decoy.clone())
            .database("eu".parse().unwrap(), $other.clone())
            .build()
            .unwrap();
        let floor = $floor.clone();
        let other = $other.clone();
        let acme = ctx("acme");
        compare(
            c,
            rt,
            &ROUTED,
            concat!($prefix, "/routed_get"),
            async || {
                subject_set
                    .repo::<Item>(&acme)
                    .unwrap()
                    .get(&acme, 42)
                    .await
                    .unwrap()
                    .unwrap()
            },
            async || ItemRepo::new(&floor).get(&acme, 42).await.unwrap().unwrap(),
            async || {
                Repo::<Item, _>::new(other_set.unfenced_pool(&acme).unwrap())
                    .get(&acme, 42)
                    .await
                    .unwrap()
                    .unwrap()
            },
            &|| (),
        );
        compare(
            c,
            rt,
            &ROUTED_CHECKED,
            concat!($prefix, "/routed_checked_get"),
            async || {
                tenant::sqlx::query_as!(
                    &acme,
                    (i64, String),
                    "SELECT amount, name FROM {Item} WHERE id = $1",
                    42_i64
                )
                .fetch_one(&subject_set.route(&acme).unwrap())
                .await
                .unwrap()
            },
            async || {
                tenant::sqlx::query_as!(
                    &acme,
                    (i64, String),
                    "SELECT amount, name FROM {Item} WHERE id = $1",
                    42_i64
                )
                .fetch_one(&floor)
                .await
                .unwrap()
            },
            async || {
                tenant::sqlx::query_as!(
                    &acme,
                    (i64, String),
                    "SELECT amount, name FROM {Item} WHERE id = $1",
                    42_i64
                )
                .fetch_one(&other_set.unfenced_pool(&acme).unwrap())
                .await
                .unwrap()
            },
            &|| (),
        );
        compare(
            c,
            rt,
            &FENCED,
            concat!($prefix, "/fenced_tx_get"),
            async || {
                let mut tx = subject_set.begin(&acme).await.unwrap();
                let row = tx.repo::<Item>().get(&acme, 42).await.unwrap().unwrap();
                tx.commit().await.unwrap();
                row
            },
            async || {
                let mut tx = TenantTx::begin(&floor, &acme).await.unwrap();
                let row = tx.repo::<Item>().get(&acme, 42).await.unwrap().unwrap();
                tx.commit().await.unwrap();
                row
            },
            async || {
                let mut tx = TenantTx::begin_fenced(&other, &acme).await.unwrap();
                let row = tx.repo::<Item>().get(&acme, 42).await.unwrap().unwrap();
                tx.commit().await.unwrap();
                row
            },
            &|| (),
        );
        let id = AtomicI64::new(10_000);
        let new = || NewItem {
            id: id.fetch_add(1, Ordering::Relaxed),
            amount: 1,
            name: "new".into(),
        };
        let reset = || {
            rt.block_on(async {
                for pool in [&$subject, &$floor, &$other] {
                    sqlx::query("DELETE FROM placed_items WHERE id >= 10000")
                        .execute(pool)
                        .await
                        .unwrap();
                }
            })
        };
        compare(
            c,
            rt,
            &FENCED,
            concat!($prefix, "/fenced_tx_insert"),
            async || {
                let mut tx = subject_set.begin(&acme).await.unwrap();
                tx.repo::<Item>().insert(&acme, new()).await.unwrap();
                tx.commit().await.unwrap();
            },
            async || {
                let mut tx = TenantTx::begin(&floor, &acme).await.unwrap();
                tx.repo::<Item>().insert(&acme, new()).await.unwrap();
                tx.commit().await.unwrap();
            },
            async || {
                let mut tx = TenantTx::begin_fenced(&other, &acme).await.unwrap();
                tx.repo::<Item>().insert(&acme, new()).await.unwrap();
                tx.commit().await.unwrap();
            },
            &reset,
        );
    }};
}

#[derive(Clone)]
struct AppState {
    resolver: SharedResolver,
}

impl FromRef<AppState> for SharedResolver {
    fn from_ref(state: &AppState) -> Self {
        state.resolver.clone()
    }
}

/// acme, placed on `eu`, as the registry says.
fn resolver() -> SharedResolver {
    let mut acme = InMemoryRegistry::from_ids(["acme".parse().unwrap()])
        .unwrap()
        .iter()
        .next()
        .unwrap()
        .clone();
    acme.placement = "eu/shared".parse().unwrap();
    TenantResolver::new(
        InMemoryRegistry::new([acme]).unwrap(),
        TenancyConfig::default(),
    )
    .anonymous()
    .shared()
}

/// `request_tx_insert` on one backend: `$subject`'s set behind `RequestTx`, `$floor`'s by
/// hand, `$other`'s without HTTP; `$decoy` is each set's other database.
macro_rules! request_group {
    ($c:expr, $rt:expr, $prefix:literal, $db:ty, $subject:expr, $floor:expr, $other:expr, $decoy:expr) => {{
        let (c, rt) = ($c, $rt);
        let set = |eu: &sqlx::Pool<$db>| {
            PoolSet::builder()
                .database("main".parse().unwrap(), $decoy.clone())
                .database("eu".parse().unwrap(), eu.clone())
                .build()
                .unwrap()
        };
        async fn with_request_tx(
            mut tx: RequestTx<$db>,
            Json(new): Json<NewItem>,
        ) -> Result<StatusCode, tenant::sqlx::Error> {
            let ctx = tx.ctx().clone();
            tx.repo::<Item>().insert(&ctx, new).await?;
            Ok(StatusCode::CREATED)
        }
        async fn by_hand(
            State(pools): State<PoolSet<$db>>,
            ctx: TenantCtx,
            Json(new): Json<NewItem>,
        ) -> Result<StatusCode, tenant::sqlx::Error> {
            let mut tx = pools.begin(&ctx).await?;
            tx.repo::<Item>().insert(&ctx, new).await?;
            tx.commit().await?;
            Ok(StatusCode::CREATED)
        }
        let subject = Router::new()
            .route("/items", post(with_request_tx))
            .layer(RequestTxLayer::new(TenantPool::new(set(&$subject))))
            .with_state(AppState {
                resolver: resolver(),
            });
        #[derive(Clone)]
        struct HandState {
            resolver: SharedResolver,
            pools: PoolSet<$db>,
        }
        impl FromRef<HandState> for SharedResolver {
            fn from_ref(state: &HandState) -> Self {
                state.resolver.clone()
            }
        }
        impl FromRef<HandState> for PoolSet<$db> {
            fn from_ref(state: &HandState) -> Self {
                state.pools.clone()
            }
        }
        let floor = Router::new()
            .route("/items", post(by_hand))
            .with_state(HandState {
                resolver: resolver(),
                pools: set(&$floor),
            });
        let other = TenantPool::new(set(&$other));
        let acme = ctx("acme");
        let id = AtomicI64::new(20_000);
        let next = || id.fetch_add(1, Ordering::Relaxed);
        let request = |id: i64| {
            http::Request::post("/items")
                .header("x-tenant-id", "acme")
                .header("content-type", "application/json")
                .body(axum::body::Body::from(format!(
                    r#"{{"id":{id},"amount":1,"name":"new"}}"#
                )))
                .unwrap()
        };
        let reset = || {
            rt.block_on(async {
                for pool in [&$subject, &$floor, &$other] {
                    sqlx::query("DELETE FROM placed_items WHERE id >= 20000")
                        .execute(pool)
                        .await
                        .unwrap();
                }
            })
        };
        compare(
            c,
            rt,
            &REQUEST,
            concat!($prefix, "/request_tx_insert"),
            async || {
                let response = subject.clone().oneshot(request(next())).await.unwrap();
                assert_eq!(response.status(), StatusCode::CREATED);
            },
            async || {
                let response = floor.clone().oneshot(request(next())).await.unwrap();
                assert_eq!(response.status(), StatusCode::CREATED);
            },
            async || {
                let mut tx = other.begin(&acme).await.unwrap();
                let new = NewItem {
                    id: next(),
                    amount: 1,
                    name: "new".into(),
                };
                tx.repo::<Item>().insert(&acme, new).await.unwrap();
                tx.commit().await.unwrap();
            },
            &reset,
        );
    }};
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    let sqlite = |_: usize| async {
        SqlitePoolOptions::new()
            .max_connections(1)
            .connect("sqlite::memory:")
            .await
            .unwrap()
    };
    let (subject, floor, other, decoy) = rt.block_on(async {
        let pools = (
            sqlite(0).await,
            sqlite(1).await,
            sqlite(2).await,
            sqlite(3).await,
        );
        for pool in [&pools.0, &pools.1, &pools.2, &pools.3] {
            prepare!(pool);
        }
        pools
    });
    groups!(&mut c, &rt, "sqlite", subject, floor, other, decoy);
    request_group!(
        &mut c,
        &rt,
        "sqlite",
        sqlx::Sqlite,
        subject,
        floor,
        other,
        decoy
    );

    if let Ok(url) = std::env::var("DATABASE_URL") {
        let schema = format!("bench_placement_{}", std::process::id());
        let (subject, floor, other, decoy) = rt.block_on(async {
            let admin = sqlx::PgPool::connect(&url).await.unwrap();
            let subject = fresh_schema(&admin, &url, &schema).await;
            prepare!(&subject);
            // The fence over the C extension where the server has it; TENANT_BENCH_PLPGSQL=1
            // measures the PL/pgSQL version (managed PostgreSQL) instead, in the same database.
            if std::env::var_os("TENANT_BENCH_PLPGSQL").is_some() {
                PlacementFence::new(&subject)
                    .install_plpgsql()
                    .await
                    .unwrap();
            }
            // The placement table is per database, in its own schema: every version sees the
            // same one.
            let on = |_: usize| tenant_benches::pool_on(&url, &schema);
            (subject, on(1).await, on(2).await, on(3).await)
        });
        groups!(&mut c, &rt, "postgres", subject, floor, other, decoy);
        request_group!(
            &mut c,
            &rt,
            "postgres",
            sqlx::Postgres,
            subject,
            floor,
            other,
            decoy
        );
    } else {
        eprintln!("notice: PostgreSQL placement benchmarks skipped: DATABASE_URL is not set");
    }
    report("placement-ratios.md");
}
