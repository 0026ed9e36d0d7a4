//! axum integration (feature `axum`): the per-request tenant-bound transaction
//! ([`RequestTx`] under [`RequestTxLayer`]), [`Error`](crate::Error) as an RFC 9457 problem,
//! and [`PageParams`], a page's cursor and limit from the query string.
//!
//! A service whose state holds a [`TenantPool`](crate::TenantPool) (in the layer) and the
//! resolver, and no plain pool, runs every repository call of its handlers inside a
//! transaction bound to the request's verified tenant, committed when the handler answers
//! `2xx` or `3xx` and rolled back otherwise:
//!
//! ```
//! use axum::extract::FromRef;
//! use axum::routing::post;
//! use axum::{Json, Router};
//! use tenant::http::{SharedResolver, TenantResolver};
//! use tenant::sqlx::axum::{RequestTx, RequestTxLayer};
//! use tenant::sqlx::{Error, PlacementFence, PoolSet, TenantPool};
//! use tenant::{tenant_scoped, InMemoryRegistry, TenancyConfig, TenantId, Tier};
//! use tower::ServiceExt;
//!
//! #[tenant_scoped(table = "notes")]
//! #[derive(serde::Serialize, serde::Deserialize)]
//! pub struct Note { #[key] pub id: i64, #[tenant] pub tenant_id: TenantId, pub body: String }
//!
//! #[derive(Clone)]
//! struct AppState {
//!     resolver: SharedResolver,
//! }
//!
//! impl FromRef<AppState> for SharedResolver {
//!     fn from_ref(state: &AppState) -> Self {
//!         state.resolver.clone()
//!     }
//! }
//!
//! // The transaction is the request's tenant's; the body cannot name another.
//! async fn create(mut tx: RequestTx<sqlx::Sqlite>, Json(new): Json<NewNote>) -> Result<Json<Note>, Error> {
//!     let ctx = tx.ctx().clone();
//!     Ok(Json(tx.repo::<Note>().insert(&ctx, new).await?))
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let db = sqlx::SqlitePool::connect("sqlite::memory:").await?;
//! NoteRepo::new(&db).create_table().await?;
//! PlacementFence::new(&db).install().await?;
//! PlacementFence::new(&db).place(&"acme".parse()?, Tier::Shared, false).await?;
//! let pool = TenantPool::new(PoolSet::builder().database("main".parse()?, db.clone()).build()?);
//!
//! let registry = InMemoryRegistry::from_ids(["acme".parse()?])?;
//! let resolver = TenantResolver::new(registry, TenancyConfig::default()).anonymous().shared();
//! let app = Router::new()
//!     .route("/notes", post(create))
//!     .layer(RequestTxLayer::new(pool))
//!     .with_state(AppState { resolver });
//!
//! let request = http::Request::post("/notes")
//!     .header("x-tenant-id", "acme")
//!     .header("content-type", "application/json")
//!     .body(axum::body::Body::from(r#"{"id": 1, "body": "hello"}"#))?;
//! assert_eq!(app.clone().oneshot(request).await?.status(), 200);
//! // The same key again: 409, a problem, and the transaction rolled back.
//! let request = http::Request::post("/notes")
//!     .header("x-tenant-id", "acme")
//!     .header("content-type", "application/json")
//!     .body(axum::body::Body::from(r#"{"id": 1, "body": "again"}"#))?;
//! let response = app.oneshot(request).await?;
//! assert_eq!(response.status(), 409);
//! assert_eq!(response.headers()["content-type"], "application/problem+json");
//! # Ok(())
//! # }
//! ```

mod page_params;
mod problem;
mod request_tx;

pub use page_params::{PageParams, PageParamsRejection};
pub use problem::MOVE_RETRY_AFTER;
pub use request_tx::{RequestTx, RequestTxLayer, RequestTxRejection, RequestTxService};

use axum_core::response::{IntoResponse, Response};
use tenant_http::{PROBLEM_JSON, Problem};

/// `problem` as an `application/problem+json` response of its status, with `Retry-After` when
/// given.
fn problem_response(problem: &Problem, retry_after_secs: Option<u64>) -> Response {
    // A `Problem` is four plain fields: serializing it cannot fail.
    let body = serde_json::to_vec(problem).unwrap_or_default();
    let status = http::StatusCode::from_u16(problem.status)
        .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, [(http::header::CONTENT_TYPE, PROBLEM_JSON)], body).into_response();
    if let Some(seconds) = retry_after_secs {
        response
            .headers_mut()
            .insert(http::header::RETRY_AFTER, http::HeaderValue::from(seconds));
    }
    response
}
