//! The HTTP API of `examples/service.rs`, shared with `tests/http.rs`: invoices of the tenant the
//! request resolves to, over SQLite or PostgreSQL. The tenant is never a parameter of a
//! handler's body or path: handlers receive a `TenantCtx`, or a `RequestTx` bound to it, from
//! the one resolver, or never run.
//!
//! Every repository call runs in the request's tenant-bound transaction (`RequestTx`), begun
//! on the tenant's database through a `PoolSet` behind the placement fence, and committed by
//! `RequestTxLayer` when the handler succeeds. The state holds the resolver and no pool: a
//! handler has no way to run a repository outside the transaction.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{FromRef, Path};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use sqlx::{PgPool, SqlitePool};
use tenant::CachedRegistry;
use tenant::TenancyConfig;
use tenant::http::{FairLayer, SharedResolver, TenantLayer, TenantResolver};
use tenant::registry::{CacheStats, FloodGuard};
use tenant::sqlx::axum::{RequestTx, RequestTxLayer};
use tenant::sqlx::{
    Error, NewTenant, PlacementBackend, PlacementFence, PoolSet, SqlRegistry, TenantPool,
};
use tenant::{Plan, TenantCtx, TenantId, Tier, tenant_scoped};

/// How long a client waits before retrying a tenant that is being moved: the library's
/// (`Error::Fenced` and `Error::Moved` answer `503` with this `Retry-After`).
pub use tenant::sqlx::axum::MOVE_RETRY_AFTER;

/// An invoice, owned by one tenant.
#[tenant_scoped(table = "invoices")]
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Invoice {
    /// The invoice number, unique within its tenant.
    #[key]
    pub id: i64,
    /// The owner; never read from the request body.
    #[tenant]
    pub tenant_id: TenantId,
    /// Who is billed.
    pub customer: String,
    /// The amount, in cents.
    pub amount_cents: i64,
}

/// The database the service runs on.
#[derive(Clone)]
pub enum Db {
    /// SQLite (the default: a file or in memory).
    Sqlite(SqlitePool),
    /// PostgreSQL, when `DATABASE_URL` names one.
    Postgres(PgPool),
}

/// What every handler shares: the one resolver. No pool: the transactions come from
/// [`RequestTxLayer`].
#[derive(Clone)]
pub struct AppState {
    resolver: SharedResolver,
}

impl FromRef<AppState> for SharedResolver {
    fn from_ref(state: &AppState) -> Self {
        state.resolver.clone()
    }
}

/// Errors of the handlers (tenant errors are answered by the extractor before a handler runs;
/// data errors are the library's problems: 409 conflict, 503 + `Retry-After` for a moving
/// tenant, ...).
pub enum ApiError {
    /// No invoice of the request's tenant has that id.
    NotFound,
    /// A repository call failed.
    Data(Error),
}

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        ApiError::Data(error)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::NotFound => (
                StatusCode::NOT_FOUND,
                Json(serde_json::json!({ "error": "no such invoice" })),
            )
                .into_response(),
            ApiError::Data(error) => error.into_response(),
        }
    }
}

/// The invoice routes over one database type. A service on one database writes these once,
/// with its own `RequestTx<sqlx::Postgres>` (as the README does); this example serves either.
macro_rules! invoice_routes {
    ($db:ty) => {{
        async fn list(mut tx: RequestTx<$db>) -> Result<Json<Vec<Invoice>>, ApiError> {
            let ctx = tx.ctx().clone();
            Ok(Json(tx.repo::<Invoice>().list(&ctx).await?))
        }

        async fn get_one(
            mut tx: RequestTx<$db>,
            Path(id): Path<i64>,
        ) -> Result<Json<Invoice>, ApiError> {
            let ctx = tx.ctx().clone();
            let invoice = tx.repo::<Invoice>().get(&ctx, id).await?;
            invoice.map(Json).ok_or(ApiError::NotFound)
        }

        async fn create(
            mut tx: RequestTx<$db>,
            Json(new): Json<NewInvoice>,
        ) -> Result<(StatusCode, Json<Invoice>), ApiError> {
            let ctx = tx.ctx().clone();
            let invoice = tx.repo::<Invoice>().insert(&ctx, new).await?;
            Ok((StatusCode::CREATED, Json(invoice)))
        }

        fn routes(pool: TenantPool<$db>) -> Router<AppState> {
            Router::new()
                .route("/invoices", get(list).post(create))
                .route("/invoices/{id}", get(get_one))
                .route("/t/{slug}/invoices", get(list).post(create))
                .route("/t/{slug}/invoices/{id}", get(get_one))
                .layer(RequestTxLayer::new(pool))
        }

        routes
    }};
}

async fn whoami(ctx: TenantCtx) -> String {
    format!("{} ({})", ctx.tenant_id(), ctx.plan())
}

/// The base domain of subdomain resolution: `acme.localhost` is tenant slug `acme`.
pub const BASE_DOMAIN: &str = "localhost";

/// Creates the schema and three tenants (acme: pro, globex: free, dormant: deactivated), and
/// returns the router. `ALLOWED_TENANTS` and friends come from `config`.
pub async fn app(db: Db, config: TenancyConfig) -> Result<Router, tenant::sqlx::Error> {
    Ok(Service::new(db, config).await?.router())
}

/// The service taken apart, for the load test (`benches/benches/load.rs`) and anything else
/// that needs to look inside: the handlers without the tenancy layer, the resolver, and the
/// registry cache's counters. [`app`] is [`Service::new`] then [`Service::router`].
pub struct Service {
    handlers: Router,
    resolver: SharedResolver,
    cache: Cache,
}

/// The registry cache behind the resolver, kept to read its counters.
enum Cache {
    Sqlite(Arc<CachedRegistry<FloodGuard<SqlRegistry<sqlx::Sqlite>>>>),
    Postgres(Arc<CachedRegistry<FloodGuard<SqlRegistry<sqlx::Postgres>>>>),
}

impl Service {
    /// Creates the schema and the three tenants of [`app`], and the service's parts.
    pub async fn new(db: Db, config: TenancyConfig) -> Result<Service, tenant::sqlx::Error> {
        let (resolver, cache, invoices) = match db {
            Db::Sqlite(pool) => {
                let registry = seeded_registry(SqlRegistry::new(pool.clone())).await?;
                InvoiceRepo::new(&pool).create_table().await?;
                let cached = Arc::new(cached(registry).await?);
                let resolver = shared(cached.clone(), config);
                let pools = placed(pool).await?;
                let invoices = invoice_routes!(sqlx::Sqlite)(TenantPool::new(pools));
                (resolver, Cache::Sqlite(cached), invoices)
            }
            Db::Postgres(pool) => {
                let registry = seeded_registry(SqlRegistry::new(pool.clone())).await?;
                InvoiceRepo::new(&pool).create_table().await?;
                let cached = Arc::new(cached(registry).await?);
                let resolver = shared(cached.clone(), config);
                let pools = placed(pool).await?;
                let invoices = invoice_routes!(sqlx::Postgres)(TenantPool::new(pools));
                (resolver, Cache::Postgres(cached), invoices)
            }
        };
        let state = AppState {
            resolver: resolver.clone(),
        };
        let handlers = invoices.route("/whoami", get(whoami)).with_state(state);
        Ok(Service {
            handlers,
            resolver,
            cache,
        })
    }

    /// The service as it runs: the handlers behind [`TenantLayer`].
    pub fn router(&self) -> Router {
        // Handlers extract `TenantCtx`; the layer around them resolves each request once,
        // answers rejections, and runs the handler in a `tenant` span carrying `tenant_id`.
        // (Without the layer, the extractor alone resolves and rejects the same way, without
        // the span.)
        self.handlers
            .clone()
            .layer(TenantLayer::new(self.resolver.clone()))
    }

    /// The service behind weighted fair admission: the handlers behind `fair`, behind
    /// [`TenantLayer`] (which resolves the tenant `fair` weighs).
    pub fn fair_router(&self, fair: FairLayer) -> Router {
        // Admission in `TenantLayer`'s own service: no second layer, so no second service
        // cloned per request nor a second future around the handlers'.
        self.handlers
            .clone()
            .layer(TenantLayer::new(self.resolver.clone()).fair(fair))
    }

    /// [`fair_router`](Self::fair_router) with `fair` as a layer of its own, given with
    /// [`TenantLayer`] in one `layer` call (the load bench compares the two).
    pub fn fair_layer_router(&self, fair: FairLayer) -> Router {
        // One `layer` call for both (the tuple's first layer is the outer one): each call
        // wraps every route in one more boxed, per-request cloned service.
        self.handlers
            .clone()
            .layer((TenantLayer::new(self.resolver.clone()), fair))
    }

    /// The routes without [`TenantLayer`]. Every handler still takes a `TenantCtx`: from the
    /// request's extensions if a layer put one there, else resolved by the extractor. The load
    /// test puts one context there for every request, to measure the handlers without tenancy.
    pub fn handlers(&self) -> Router {
        self.handlers.clone()
    }

    /// The resolver of [`router`](Self::router).
    pub fn resolver(&self) -> &SharedResolver {
        &self.resolver
    }

    /// What the registry cache has answered so far.
    pub fn registry_stats(&self) -> CacheStats {
        match &self.cache {
            Cache::Sqlite(cache) => cache.stats(),
            Cache::Postgres(cache) => cache.stats(),
        }
    }

    /// How many entries the registry cache holds, found and not found.
    pub fn registry_len(&self) -> usize {
        match &self.cache {
            Cache::Sqlite(cache) => cache.len(),
            Cache::Postgres(cache) => cache.len(),
        }
    }

    /// Whether the registry cache holds a found tenant with this id.
    pub fn is_cached(&self, id: &TenantId) -> bool {
        match &self.cache {
            Cache::Sqlite(cache) => cache.is_cached_by_id(id),
            Cache::Postgres(cache) => cache.is_cached_by_id(id),
        }
    }
}

/// The one database, `main`, as a [`PoolSet`]: its placement fence installed, and the seeded tenants placed in it (what a registry's `place` and a move do
/// for a tenant later).
async fn placed<DB>(pool: sqlx::Pool<DB>) -> Result<PoolSet<DB>, Error>
where
    DB: PlacementBackend,
{
    let fence = PlacementFence::new(&pool);
    fence.install().await?;
    for tenant in SEEDED {
        fence.place(&tenant.0.parse()?, Tier::Shared, false).await?;
    }
    PoolSet::builder()
        .database(tenant::DatabaseLabel::default(), pool)
        .build()
}

/// The tenants the service starts with: acme (pro), globex (free), dormant (deactivated).
const SEEDED: [(&str, Plan); 3] = [
    ("acme", Plan::Pro),
    ("globex", Plan::Free),
    ("dormant", Plan::Free),
];

async fn seeded_registry<DB>(
    registry: SqlRegistry<DB>,
) -> Result<SqlRegistry<DB>, tenant::sqlx::Error>
where
    DB: tenant::sqlx::RegistryBackend,
{
    registry.migrate().await?;
    for (id, plan) in SEEDED {
        let id: TenantId = id.parse()?;
        // Idempotent, so the service can restart on a persistent PostgreSQL database.
        if tenant::TenantRegistry::find_by_id(&registry, &id)
            .await?
            .is_some()
        {
            continue;
        }
        registry
            .create(NewTenant {
                slug: id.clone(),
                name: id.to_string(),
                plan,
                schema_name: format!("tenant_{id}").parse()?,
                id,
            })
            .await?;
    }
    registry.deactivate(&"dormant".parse()?).await?;
    Ok(registry)
}

/// Found tenants are served for 30 s; at most 10,000 of them, and apart at most 10,000 "no such
/// tenant" answers, each for 5 s (`DEFAULT_NOT_FOUND_TTL`). Under the cache, a flood of unknown
/// ids may cost the registry [`MISS_BUDGET`] lookups a second (bursts of twice that); the
/// registry's active tenants at start and tenants found since never pay, and concurrent misses
/// on one id make one lookup.
async fn cached<DB>(
    registry: SqlRegistry<DB>,
) -> Result<CachedRegistry<FloodGuard<SqlRegistry<DB>>>, tenant::sqlx::Error>
where
    DB: tenant::sqlx::RegistryBackend,
{
    let live = registry.active_tenants().await?;
    let guarded = FloodGuard::new(registry, MISS_BUDGET.get(), 2 * MISS_BUDGET.get())
        .unwrap_or_else(|_| unreachable!("MISS_BUDGET is not zero"));
    for tenant in &live {
        guarded.remember(tenant);
    }
    Ok(CachedRegistry::new(
        guarded,
        Duration::from_secs(30),
        10_000,
    ))
}

/// Lookups a second of ids the registry has not found lately: what a flood of unknown ids may
/// cost it, each a query. Every live tenant is known from the start, so this meters only the
/// first lookups of tenants created since (elsewhere) and ids that are nobody's. A budgeted
/// lookup costs a point query's CPU (~100–150 µs with PostgreSQL's backend): 200 a second took
/// 2% of the live tenants' capacity in the load bench, 20 a tenth of that.
pub const MISS_BUDGET: std::num::NonZeroU32 = std::num::NonZeroU32::new(20).unwrap();

fn shared<R: tenant::TenantRegistry + 'static>(
    registry: R,
    config: TenancyConfig,
) -> SharedResolver {
    TenantResolver::new(registry, config)
        .base_domain(BASE_DOMAIN)
        // This example has no users or sessions: every request is anonymous, a deliberate
        // choice. A service with logins passes its `UserHook` to `.users(..)` instead, so that
        // contexts carry the user and members are told why their tenant is refused. Anonymous
        // callers get one answer (404 `tenant-unavailable`) for unknown, inactive and
        // disallowed tenants alike.
        .anonymous()
        .shared()
}
