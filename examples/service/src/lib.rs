//! The HTTP API of `examples/service.rs`, shared with `tests/http.rs`: invoices of the tenant the
//! request resolves to, over SQLite or PostgreSQL. The tenant is never a parameter of a
//! handler's body or path: handlers receive a `TenantCtx` from the one resolver, or never run.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use sqlx::{PgPool, SqlitePool};
use tenant::CachedRegistry;
use tenant::TenancyConfig;
use tenant::http::{FairLayer, RetryLater, SharedResolver, TenantLayer, TenantResolver};
use tenant::registry::{CacheStats, FloodGuard};
use tenant::sqlx::{NewTenant, SqlRegistry};
use tenant::{Plan, TenantCtx, TenantId, tenant_scoped};

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

/// Runs `$body` with `$repo` bound to an `InvoiceRepo` over whichever pool `$db` holds.
macro_rules! with_repo {
    ($db:expr, |$repo:ident| $body:expr) => {
        match $db {
            Db::Sqlite(pool) => {
                let mut $repo = InvoiceRepo::new(pool);
                $body
            }
            Db::Postgres(pool) => {
                let mut $repo = InvoiceRepo::new(pool);
                $body
            }
        }
    };
}

/// What every handler shares: the database and the one resolver.
#[derive(Clone)]
pub struct AppState {
    db: Db,
    resolver: SharedResolver,
}

impl axum::extract::FromRef<AppState> for SharedResolver {
    fn from_ref(state: &AppState) -> Self {
        state.resolver.clone()
    }
}

/// Errors of the handlers (tenant errors are answered by the extractor before a handler runs).
pub enum ApiError {
    /// A status and what to say.
    Status(StatusCode, String),
    /// The tenant is being moved (`Fenced`), or was moved a moment ago (`Moved`): `503` with
    /// `Retry-After`, the problem `tenant-moving`, which names no tenant.
    RetryLater(RetryLater),
}

/// How long a client waits before retrying a tenant that is being moved: a move's
/// write-unavailability window is seconds (BENCHMARKS.md, "Moving a tenant").
pub const MOVE_RETRY_AFTER: Duration = Duration::from_secs(2);

impl From<tenant::sqlx::Error> for ApiError {
    fn from(error: tenant::sqlx::Error) -> Self {
        match error {
            tenant::sqlx::Error::Conflict { .. } => {
                ApiError::Status(StatusCode::CONFLICT, "already exists".into())
            }
            error if error.is_retryable() => {
                ApiError::RetryLater(RetryLater::new(MOVE_RETRY_AFTER))
            }
            other => ApiError::Status(StatusCode::INTERNAL_SERVER_ERROR, other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::Status(status, message) => {
                (status, Json(serde_json::json!({ "error": message }))).into_response()
            }
            ApiError::RetryLater(later) => later.into_response(),
        }
    }
}

async fn list(
    State(state): State<AppState>,
    ctx: TenantCtx,
) -> Result<Json<Vec<Invoice>>, ApiError> {
    Ok(Json(with_repo!(&state.db, |repo| repo.list(&ctx).await?)))
}

async fn get_one(
    State(state): State<AppState>,
    ctx: TenantCtx,
    Path(id): Path<i64>,
) -> Result<Json<Invoice>, ApiError> {
    match with_repo!(&state.db, |repo| repo.get(&ctx, id).await?) {
        Some(invoice) => Ok(Json(invoice)),
        None => Err(ApiError::Status(
            StatusCode::NOT_FOUND,
            "no such invoice".into(),
        )),
    }
}

async fn create(
    State(state): State<AppState>,
    ctx: TenantCtx,
    Json(new): Json<NewInvoice>,
) -> Result<(StatusCode, Json<Invoice>), ApiError> {
    let invoice = with_repo!(&state.db, |repo| repo.insert(&ctx, new).await?);
    Ok((StatusCode::CREATED, Json(invoice)))
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
        let (resolver, cache) = match &db {
            Db::Sqlite(pool) => {
                let registry = seeded_registry(SqlRegistry::new(pool.clone())).await?;
                InvoiceRepo::new(pool).create_table().await?;
                let cached = Arc::new(cached(registry));
                (shared(cached.clone(), config), Cache::Sqlite(cached))
            }
            Db::Postgres(pool) => {
                let registry = seeded_registry(SqlRegistry::new(pool.clone())).await?;
                InvoiceRepo::new(pool).create_table().await?;
                let cached = Arc::new(cached(registry));
                (shared(cached.clone(), config), Cache::Postgres(cached))
            }
        };
        let state = AppState {
            db,
            resolver: resolver.clone(),
        };
        let handlers = Router::new()
            .route("/invoices", get(list).post(create))
            .route("/invoices/{id}", get(get_one))
            .route("/t/{slug}/invoices", get(list).post(create))
            .route("/t/{slug}/invoices/{id}", get(get_one))
            .route("/whoami", get(whoami))
            .with_state(state);
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
        self.handlers
            .clone()
            .layer(fair)
            .layer(TenantLayer::new(self.resolver.clone()))
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

async fn seeded_registry<DB>(
    registry: SqlRegistry<DB>,
) -> Result<SqlRegistry<DB>, tenant::sqlx::Error>
where
    DB: tenant::sqlx::RegistryBackend,
{
    registry.migrate().await?;
    for (id, plan) in [
        ("acme", Plan::Pro),
        ("globex", Plan::Free),
        ("dormant", Plan::Free),
    ] {
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
/// ids may cost the registry [`MISS_BUDGET`] lookups a second (bursts of twice that); tenants
/// found lately never pay, and concurrent misses on one id make one lookup.
fn cached<R: tenant::TenantRegistry>(registry: R) -> CachedRegistry<FloodGuard<R>> {
    let guarded = FloodGuard::new(registry, MISS_BUDGET.get(), 2 * MISS_BUDGET.get())
        .unwrap_or_else(|_| unreachable!("MISS_BUDGET is not zero"));
    CachedRegistry::new(guarded, Duration::from_secs(30), 10_000)
}

/// Lookups a second of ids the registry has not found lately.
pub const MISS_BUDGET: std::num::NonZeroU32 = std::num::NonZeroU32::new(200).unwrap();

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
