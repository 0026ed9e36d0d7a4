//! The per-request tenant-bound transaction (`RequestTx` under `RequestTxLayer`, over a
//! `TenantPool`) through a real axum router, on SQLite and on PostgreSQL with forced row-level
//! security as the application role (`APP_DATABASE_URL`). Each test tries to break a claim:
//! a failed or panicking handler that wrote, a body naming another tenant, a handler given
//! another tenant's context, a transaction smuggled out of its request, a repository run
//! outside the transaction, and every `Error` -> problem mapping at the HTTP edge.

#![allow(missing_docs)] // test entities

use std::time::Duration;

use axum::body::Body;
use axum::extract::{FromRef, Path};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use tower::ServiceExt;

use tenant::Tenant;
use tenant::http::{SharedResolver, TenantResolver};
use tenant::sqlx::axum::{PageParams, RequestTx, RequestTxLayer};
use tenant::sqlx::{Error, Page, PlacementFence, PoolSet, TenantPool};
use tenant::{InMemoryRegistry, Placement, Plan, TenancyConfig, TenantId, Tier, tenant_scoped};
use tenant_test_support as support;

#[tenant_scoped(table = "rtx_notes")]
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Note {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    pub body: String,
}

#[tenant_scoped(table = "rtx_comments")]
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Comment {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    #[belongs_to(Note)]
    pub note_id: i64,
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

fn id(text: &str) -> TenantId {
    text.parse().unwrap()
}

/// acme and globex in `main`, initech in `eu`, and hooli in `main` by the registry but placed
/// nowhere (a stale route).
fn resolver() -> SharedResolver {
    let mut tenants = Vec::new();
    for (tenant, database) in [
        ("acme", "main"),
        ("globex", "main"),
        ("initech", "eu"),
        ("hooli", "main"),
    ] {
        let mut t = InMemoryRegistry::from_ids([id(tenant)])
            .unwrap()
            .iter()
            .next()
            .unwrap()
            .clone();
        t.placement = Placement::new(database.parse().unwrap(), Tier::Shared);
        tenants.push(t);
    }
    let registry = InMemoryRegistry::new(tenants.into_iter().collect::<Vec<Tenant>>()).unwrap();
    TenantResolver::new(registry, TenancyConfig::default())
        .anonymous()
        .shared()
}

/// The handlers, for one backend: each writes in the request's transaction, then answers.
macro_rules! router {
    ($db:ty) => {{
        type Tx = RequestTx<$db>;

        async fn create(mut tx: Tx, Json(new): Json<NewNote>) -> Result<Response, Error> {
            let ctx = tx.ctx().clone();
            let note = tx.repo::<Note>().insert(&ctx, new).await?;
            Ok((StatusCode::CREATED, Json(note)).into_response())
        }

        /// Writes, then answers `status` (or panics for 999).
        async fn write_then(
            mut tx: Tx,
            Path(status): Path<u16>,
            Json(new): Json<NewNote>,
        ) -> Result<Response, Error> {
            let ctx = tx.ctx().clone();
            tx.repo::<Note>().insert(&ctx, new).await?;
            if status == 999 {
                panic!("the handler panics after its write");
            }
            if status == 303 {
                return Ok(Redirect::to("/notes").into_response());
            }
            Ok(StatusCode::from_u16(status).unwrap().into_response())
        }

        async fn comment(mut tx: Tx, Json(new): Json<NewComment>) -> Result<StatusCode, Error> {
            let ctx = tx.ctx().clone();
            tx.repo::<Comment>().insert(&ctx, new).await?;
            Ok(StatusCode::CREATED)
        }

        async fn list(mut tx: Tx, page: PageParams<Note>) -> Result<Json<Page<Note>>, Error> {
            let ctx = tx.ctx().clone();
            let request = page.request(Note::columns().id.asc(), 2, 100);
            Ok(Json(tx.repo::<Note>().page(&ctx, request).await?))
        }

        /// Raw SQL in the transaction: on PostgreSQL, row-level security leaves only the
        /// request's tenant's rows.
        async fn raw_count(mut tx: Tx) -> Result<String, Error> {
            let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM rtx_notes")
                .fetch_one(tx.executor())
                .await?;
            Ok(n.to_string())
        }

        /// A handler that tries another tenant's context on the request's transaction.
        async fn as_globex(mut tx: Tx, Json(new): Json<NewNote>) -> Result<StatusCode, Error> {
            let globex = support::ctx("globex", Plan::Free);
            tx.repo::<Note>().insert(&globex, new).await?;
            Ok(StatusCode::CREATED)
        }

        /// A handler that smuggles its transaction into a task that outlives the response.
        async fn escape(mut tx: Tx, Json(new): Json<NewNote>) -> StatusCode {
            let ctx = tx.ctx().clone();
            tx.repo::<Note>().insert(&ctx, new).await.unwrap();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(300)).await;
                drop(tx);
            });
            StatusCode::CREATED
        }

        /// Two transactions in one request.
        async fn twice(_a: Tx, _b: Tx) -> StatusCode {
            StatusCode::OK
        }

        fn router(pool: TenantPool<$db>) -> Router {
            let state = AppState {
                resolver: resolver(),
            };
            let outside = Router::new().route("/outside", post(create));
            Router::new()
                .route("/notes", post(create).get(list))
                .route("/notes/then/{status}", post(write_then))
                .route("/comments", post(comment))
                .route("/raw-count", get(raw_count))
                .route("/as-globex", post(as_globex))
                .route("/escape", post(escape))
                .route("/twice", get(twice))
                .layer(RequestTxLayer::new(pool))
                // Not under the layer: a `RequestTx` there has nothing to commit it.
                .merge(outside)
                .with_state(state)
        }

        router
    }};
}

struct Answer {
    status: StatusCode,
    content_type: Option<String>,
    retry_after: Option<String>,
    body: serde_json::Value,
    text: String,
}

async fn call(app: &Router, method: &str, uri: &str, tenant: &str, body: &str) -> Answer {
    let request = http::Request::builder()
        .method(method)
        .uri(uri)
        .header("x-tenant-id", tenant)
        .header("content-type", "application/json")
        .body(Body::from(body.to_owned()))
        .unwrap();
    // Spawned, as a server runs each request: a panicking handler ends its task only.
    let app = app.clone();
    let response = match tokio::spawn(async move { app.oneshot(request).await }).await {
        Ok(response) => response.unwrap(),
        Err(panicked) => {
            assert!(panicked.is_panic());
            return Answer {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                content_type: None,
                retry_after: None,
                body: serde_json::Value::Null,
                text: "panicked".into(),
            };
        }
    };
    let status = response.status();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let content_type = header("content-type");
    let retry_after = header("retry-after");
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    Answer {
        status,
        content_type,
        retry_after,
        body: serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
        text,
    }
}

fn note(id: i64, body: &str) -> String {
    serde_json::json!({ "id": id, "body": body }).to_string()
}

fn assert_problem(answer: &Answer, status: u16, class: &str) {
    assert_eq!(answer.status.as_u16(), status, "{}", answer.text);
    assert_eq!(
        answer.content_type.as_deref(),
        Some("application/problem+json")
    );
    assert_eq!(
        answer.body["type"],
        format!("urn:tenant:problem:{class}"),
        "{}",
        answer.text
    );
    for tenant in ["acme", "globex", "initech", "hooli"] {
        assert!(!answer.text.contains(tenant), "{}", answer.text);
    }
}

/// The ids of `tenant`'s notes, read through the app: what its transactions committed.
async fn ids(app: &Router, tenant: &str) -> Vec<i64> {
    let answer = call(app, "GET", "/notes?limit=100", tenant, "").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let mut ids: Vec<i64> = answer.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_i64().unwrap())
        .collect();
    ids.sort();
    ids
}

/// Every claim, on one backend's router (`rls`: PostgreSQL's, whose raw SQL is restricted too).
async fn exercise(app: Router, rls: bool) {
    // Commit on 2xx; the body's tenant_id is not a field of `NewNote`, and is ignored.
    let smuggled = r#"{"id": 1, "body": "one", "tenant_id": "globex"}"#;
    let created = call(&app, "POST", "/notes", "acme", smuggled).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    assert_eq!(created.body["tenant_id"], "acme");
    assert_eq!(ids(&app, "acme").await, [1]);
    assert_eq!(ids(&app, "globex").await, Vec::<i64>::new());

    // Commit on 3xx (a redirect after a write); roll back on 4xx, 5xx and a panic.
    for (id, status, committed) in [
        (2, 303, true),
        (3, 400, false),
        (4, 404, false),
        (5, 422, false),
        (6, 500, false),
        (7, 503, false),
        (8, 999, false),
        (9, 204, true),
    ] {
        let uri = format!("/notes/then/{status}");
        let answer = call(&app, "POST", &uri, "acme", &note(id, "x")).await;
        let expected = if status == 999 { 500 } else { status };
        assert_eq!(answer.status.as_u16(), expected, "{uri}");
        let stored = ids(&app, "acme").await.contains(&id);
        assert_eq!(stored, committed, "{uri}: row {id} stored = {stored}");
    }
    assert_eq!(ids(&app, "acme").await, [1, 2, 9]);

    // A conflict is 409, and its transaction rolls back.
    let conflict = call(&app, "POST", "/notes", "acme", &note(1, "again")).await;
    assert_problem(&conflict, 409, "conflict");
    // The same key in another tenant is no conflict.
    let other = call(&app, "POST", "/notes", "globex", &note(1, "globex's")).await;
    assert_eq!(other.status, StatusCode::CREATED, "{}", other.text);

    // A reference to another tenant's note is 422 (the foreign key is led by the tenant).
    let fk = call(
        &app,
        "POST",
        "/comments",
        "globex",
        r#"{"id": 1, "note_id": 9}"#,
    )
    .await;
    assert_problem(&fk, 422, "foreign-key");
    let ok = call(
        &app,
        "POST",
        "/comments",
        "acme",
        r#"{"id": 1, "note_id": 9}"#,
    )
    .await;
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.text);

    // A handler that hands another tenant's context to the request's transaction is refused
    // before anything is sent, and nothing lands for either.
    let crossed = call(&app, "POST", "/as-globex", "acme", &note(40, "x")).await;
    assert_problem(&crossed, 500, "tenant-mismatch");
    assert!(!ids(&app, "acme").await.contains(&40));
    assert!(!ids(&app, "globex").await.contains(&40));

    // Raw SQL in the transaction: row-level security leaves the request's tenant's rows.
    if rls {
        let acme = call(&app, "GET", "/raw-count", "acme", "").await;
        assert_eq!(acme.text, "3");
        let globex = call(&app, "GET", "/raw-count", "globex", "").await;
        assert_eq!(globex.text, "1");
    }

    // Pages: `Page` serializes; a malformed cursor in the query string is the library's
    // problem, not axum's text/plain; another tenant's cursor is refused the same way.
    let first = call(&app, "GET", "/notes", "acme", "").await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    assert_eq!(first.body["items"].as_array().unwrap().len(), 2);
    let cursor = first.body["next"].as_str().unwrap().to_owned();
    let second = call(&app, "GET", &format!("/notes?cursor={cursor}"), "acme", "").await;
    assert_eq!(second.body["items"][0]["id"], 9);
    assert!(second.body["next"].is_null());
    let stolen = call(
        &app,
        "GET",
        &format!("/notes?cursor={cursor}"),
        "globex",
        "",
    )
    .await;
    assert_problem(&stolen, 400, "invalid-cursor");
    let malformed = call(&app, "GET", "/notes?cursor=%E2%9C%93", "acme", "").await;
    assert_problem(&malformed, 400, "invalid-cursor");
    let limit = call(&app, "GET", "/notes?limit=many", "acme", "").await;
    assert_problem(&limit, 400, "invalid-page-request");
    let twice = format!("/notes?cursor={cursor}&cursor={cursor}");
    let repeated = call(&app, "GET", &twice, "acme", "").await;
    assert_problem(&repeated, 400, "invalid-page-request");
    // `?cursor=` (a form's empty field) is the first page.
    let empty = call(&app, "GET", "/notes?cursor=&limit=100", "acme", "").await;
    assert_eq!(empty.body["items"].as_array().unwrap().len(), 3);

    // A placed tenant lands on its own database.
    let placed = call(&app, "POST", "/notes", "initech", &note(70, "eu")).await;
    assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.text);
    assert_eq!(ids(&app, "initech").await, [70]);
    // A tenant the registry routes to a database that does not hold it: 503, Retry-After.
    let stale = call(&app, "POST", "/notes", "hooli", &note(1, "x")).await;
    assert_problem(&stale, 503, "tenant-moving");
    assert_eq!(stale.retry_after.as_deref(), Some("2"));

    // A transaction smuggled out of its request: the response says so, and nothing commits,
    // not even when the task lets go of it later.
    let escaped = call(&app, "POST", "/escape", "acme", &note(50, "x")).await;
    assert_problem(&escaped, 500, "transaction-escaped");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!ids(&app, "acme").await.contains(&50));

    // Wiring mistakes are typed problems, not a transaction nobody commits.
    let outside = call(&app, "POST", "/outside", "acme", &note(60, "x")).await;
    assert_problem(&outside, 500, "transaction-layer-missing");
    let twice = call(&app, "GET", "/twice", "acme", "").await;
    assert_problem(&twice, 500, "transaction-taken");
    // No tenant, no transaction: the resolver's problem.
    let missing = call(&app, "POST", "/notes", "", &note(61, "x")).await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert_eq!(ids(&app, "acme").await, [1, 2, 9]);
}

/// Creates the tables and the fence on a database, and places `tenants` there.
macro_rules! prepare {
    ($pool:expr, $tenants:expr) => {{
        let pool = $pool;
        PlacementFence::new(pool).install().await.unwrap();
        for tenant in $tenants {
            PlacementFence::new(pool)
                .place(&id(tenant), Tier::Shared, false)
                .await
                .unwrap();
        }
        NoteRepo::new(pool).create_table().await.unwrap();
        CommentRepo::new(pool).create_table().await.unwrap();
    }};
}

#[tokio::test]
async fn sqlite_request_transactions() {
    let main = support::sqlite().await;
    let eu = support::sqlite().await;
    prepare!(&main, ["acme", "globex"]);
    prepare!(&eu, ["initech"]);
    let pools = PoolSet::builder()
        .database("main".parse().unwrap(), main.clone())
        .database("eu".parse().unwrap(), eu.clone())
        .build()
        .unwrap();
    let router = router!(sqlx::Sqlite);
    exercise(router(TenantPool::new(pools)), false).await;

    // initech's row is in `eu`, and only there.
    let initech = support::ctx("initech", Plan::Free);
    assert_eq!(NoteRepo::new(&eu).count(&initech).await.unwrap(), 1);
    assert_eq!(NoteRepo::new(&main).count(&initech).await.unwrap(), 0);
}

#[tokio::test]
async fn postgres_request_transactions_under_forced_row_level_security() {
    let Some((owner, app)) = support::postgres_app_database("request_tx_main", 4).await else {
        return;
    };
    let Some((eu_owner, eu_app)) = support::postgres_app_database("request_tx_eu", 2).await else {
        return;
    };
    let security = support::install_row_security(&owner).await;
    support::install_row_security(&eu_owner).await;
    prepare!(&owner, ["acme", "globex"]);
    prepare!(&eu_owner, ["initech"]);
    for pool in [&owner, &eu_owner] {
        NoteRepo::new(pool).row_level_security().await.unwrap();
        CommentRepo::new(pool).row_level_security().await.unwrap();
    }
    let pools = PoolSet::builder()
        .database("main".parse().unwrap(), app.clone())
        .database("eu".parse().unwrap(), eu_app.clone())
        .build()
        .unwrap();
    let router = router!(sqlx::Postgres);
    exercise(
        router(TenantPool::with_row_security(pools, security.clone())),
        true,
    )
    .await;

    // initech's row is in `eu`, and only there.
    let initech = support::ctx("initech", Plan::Free);
    for (pool, expected) in [(&eu_app, 1), (&app, 0)] {
        let mut tx = security.begin(pool, &initech).await.unwrap();
        assert_eq!(tx.repo::<Note>().count(&initech).await.unwrap(), expected);
    }

    // The transaction forgotten: a repository on the application role's plain pool. A read
    // finds nothing (fail closed), and a write is the typed `RowSecurityViolation`, answered
    // `500 row-security-violation`, not a generic database error.
    let acme = support::ctx("acme", Plan::Free);
    assert_eq!(NoteRepo::new(&app).list(&acme).await.unwrap(), []);
    let refused = NoteRepo::new(&app)
        .insert(
            &acme,
            NewNote {
                id: 90,
                body: "outside".into(),
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(refused, Error::RowSecurityViolation(_)),
        "{refused:?}"
    );
    let problem = refused.problem();
    assert_eq!(
        (problem.status, problem.type_uri),
        (500, "urn:tenant:problem:row-security-violation")
    );
}

/// Each `Error` -> problem mapping the HTTP edge promises, including those a live server makes
/// only by accident (a statement timeout, an empty pool).
#[test]
fn every_error_maps_to_its_problem() {
    let db = || sqlx::Error::Protocol("the database's own words, acme".into());
    let acme = id("acme");
    let cases: Vec<(Error, u16, &str, Option<&str>)> = vec![
        (
            Error::Conflict {
                table: "t",
                source: db(),
            },
            409,
            "conflict",
            None,
        ),
        (
            Error::ForeignKey {
                table: "t",
                source: db(),
            },
            422,
            "foreign-key",
            None,
        ),
        (Error::EmptyPatch, 422, "empty-patch", None),
        (
            Error::Cursor(tenant::sqlx::CursorError::Invalid),
            400,
            "invalid-cursor",
            None,
        ),
        (
            Error::Cursor(tenant::sqlx::CursorError::Malformed { reason: "x" }),
            400,
            "invalid-cursor",
            None,
        ),
        // A cursor key the server failed to make is the server's fault.
        (
            Error::Cursor(tenant::sqlx::CursorError::NoRandomKey),
            500,
            "internal-error",
            None,
        ),
        (
            Error::Moved {
                tenant: acme.clone(),
            },
            503,
            "tenant-moving",
            Some("2"),
        ),
        (
            Error::Fenced {
                tenant: acme.clone(),
            },
            503,
            "tenant-moving",
            Some("2"),
        ),
        (
            Error::StatementTimeout(db()),
            503,
            "statement-timeout",
            None,
        ),
        (
            Error::Database(sqlx::Error::PoolTimedOut),
            503,
            "database-busy",
            Some("1"),
        ),
        (
            Error::Database(sqlx::Error::RowNotFound),
            404,
            "not-found",
            None,
        ),
        (
            Error::RowSecurityViolation(db()),
            500,
            "row-security-violation",
            None,
        ),
        (
            Error::TenantMismatch {
                bound: acme.clone(),
                given: id("globex"),
            },
            500,
            "tenant-mismatch",
            None,
        ),
        (Error::Database(db()), 500, "internal-error", None),
        (
            Error::UnknownDatabase {
                label: "eu".parse().unwrap(),
            },
            500,
            "internal-error",
            None,
        ),
    ];
    for (error, status, class, retry_after) in cases {
        let shown = format!("{error:?}");
        let response = error.into_response();
        assert_eq!(response.status().as_u16(), status, "{shown}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json",
            "{shown}"
        );
        assert_eq!(
            response
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap()),
            retry_after,
            "{shown}"
        );
        let body =
            futures::executor::block_on(axum::body::to_bytes(response.into_body(), 4096)).unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            body["type"],
            format!("urn:tenant:problem:{class}"),
            "{shown}"
        );
        assert_eq!(body["status"], status, "{shown}");
        // Neither the tenant nor what the database said reaches the client.
        let text = body.to_string();
        assert!(!text.contains("acme") && !text.contains("globex"), "{text}");
    }
}
