//! The request boundary over real HTTP: the example service bound to 127.0.0.1, spoken to over
//! TCP with hyper's HTTP/1.1 client. Two tenants cannot see each other's data through the API, and every error class answers
//! with its status and an `application/problem+json` body.

use example_service as app;
use tenant_test_support as support;

use std::net::SocketAddr;

use tenant::TenancyConfig;

struct Reply {
    status: u16,
    content_type: String,
    body: String,
}

impl Reply {
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// Serves the example app on an ephemeral port of 127.0.0.1.
async fn serve(db: app::Db, config: TenancyConfig) -> SocketAddr {
    let router = app::app(db, config).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

/// One HTTP/1.1 request on its own connection, sent with hyper's client; `host` defaults to the
/// server's address.
async fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Reply {
    use http_body_util::{BodyExt, Full};
    use hyper::body::Bytes;

    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(connection);
    let mut request = http::Request::builder().method(method).uri(path);
    if !headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("host"))
    {
        request = request.header(http::header::HOST, addr.to_string());
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let body = match body {
        Some(body) => {
            request = request.header(http::header::CONTENT_TYPE, "application/json");
            Full::new(Bytes::from(body.to_owned()))
        }
        None => Full::new(Bytes::new()),
    };
    let response = sender
        .send_request(request.body(body).unwrap())
        .await
        .unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .map(|value| value.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        content_type,
        body: String::from_utf8(body.to_vec()).unwrap(),
    }
}

fn ids(reply: &Reply) -> Vec<(i64, String)> {
    reply
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["id"].as_i64().unwrap(),
                i["tenant_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

macro_rules! http_suite {
    ($backend:ident, $db:expr) => {
        mod $backend {
            use super::*;

            /// A service that has just started, flooded by unknown ids before any tenant asked:
            /// once the budget for misses is spent the flood gets `503`, and its live tenants,
            /// remembered at start, are served though nobody looked them up yet.
            #[tokio::test]
            async fn a_fresh_service_under_a_flood_still_serves_its_tenants() {
                let Some(db) = $db else { return };
                let addr = serve(db, TenancyConfig::default()).await;
                let burst = 2 * app::MISS_BUDGET.get() as usize;
                let mut spent = false;
                for n in 0..burst + 20 {
                    let name = format!("nobody-{n}");
                    let reply = call(addr, "GET", "/whoami", &[("X-Tenant-ID", &name)], None).await;
                    assert!(
                        matches!(reply.status, 404 | 503),
                        "{name}: {}",
                        reply.status
                    );
                    spent |= reply.status == 503;
                }
                assert!(spent, "the flood never spent the budget");
                for tenant in ["acme", "globex"] {
                    let reply =
                        call(addr, "GET", "/whoami", &[("X-Tenant-ID", tenant)], None).await;
                    assert_eq!(reply.status, 200, "{tenant}: {}", reply.body);
                }
            }

            #[tokio::test]
            async fn two_tenants_cannot_see_each_others_data_over_http() {
                let Some(db) = $db else { return };
                let addr = serve(db, TenancyConfig::default()).await;
                let acme = [("X-Tenant-ID", "acme")];
                let globex = [("X-Tenant-ID", "globex")];
                let created = call(
                    addr,
                    "POST",
                    "/invoices",
                    &acme,
                    Some(r#"{"id":1,"customer":"road-runner","amount_cents":990}"#),
                )
                .await;
                assert_eq!(created.status, 201, "{}", created.body);
                assert_eq!(created.json()["tenant_id"], "acme");
                // The same id for globex, and a body that tries to choose the tenant: the field is not
                // part of NewInvoice, so the tenant still comes from the request's resolution.
                let created = call(
                    addr,
                    "POST",
                    "/invoices",
                    &globex,
                    Some(r#"{"id":1,"customer":"coyote","amount_cents":5,"tenant_id":"acme"}"#),
                )
                .await;
                assert_eq!(created.status, 201, "{}", created.body);
                assert_eq!(created.json()["tenant_id"], "globex");
                call(
                    addr,
                    "POST",
                    "/invoices",
                    &acme,
                    Some(r#"{"id":2,"customer":"bugs","amount_cents":1}"#),
                )
                .await;

                let list = call(addr, "GET", "/invoices", &acme, None).await;
                assert_eq!(ids(&list), [(1, "acme".to_owned()), (2, "acme".to_owned())]);
                let list = call(addr, "GET", "/invoices", &globex, None).await;
                assert_eq!(ids(&list), [(1, "globex".to_owned())]);
                // acme's invoice 2 does not exist for globex.
                assert_eq!(
                    call(addr, "GET", "/invoices/2", &globex, None).await.status,
                    404
                );
                assert_eq!(
                    call(addr, "GET", "/invoices/1", &globex, None).await.json()["customer"],
                    "coyote"
                );
                // The same answers through a subdomain and through a path segment.
                let host = [("Host", "acme.localhost")];
                assert_eq!(
                    ids(&call(addr, "GET", "/invoices", &host, None).await).len(),
                    2
                );
                assert_eq!(
                    ids(&call(addr, "GET", "/t/globex/invoices", &[], None).await),
                    [(1, "globex".to_owned())]
                );
                // Two sources naming different tenants are a conflict, never a pick.
                for (headers, path) in [
                    (
                        &[("X-Tenant-ID", "acme"), ("Host", "globex.localhost")][..],
                        "/invoices",
                    ),
                    (&[("X-Tenant-ID", "acme")][..], "/t/globex/invoices"),
                ] {
                    let reply = call(addr, "GET", path, headers, None).await;
                    assert_eq!(reply.status, 400, "{headers:?} {path}");
                    assert_eq!(
                        reply.json()["type"],
                        "urn:tenant:problem:conflicting-tenant"
                    );
                }
                // A duplicate key within one tenant is a conflict, not a silent overwrite.
                let dup = call(
                    addr,
                    "POST",
                    "/t/globex/invoices",
                    &[],
                    Some(r#"{"id":1,"customer":"x","amount_cents":1}"#),
                )
                .await;
                assert_eq!(dup.status, 409);
                // The middleware form answers the same way and sees the same tenant.
                assert_eq!(
                    call(addr, "GET", "/whoami", &globex, None).await.body,
                    "globex (free)"
                );
            }

            #[tokio::test]
            async fn every_error_class_answers_with_its_status_and_a_problem() {
                let config = TenancyConfig::default()
                    .with_allowed(["acme", "dormant"].map(|id| id.parse().unwrap()));
                let Some(db) = $db else { return };
                let addr = serve(db, config).await;
                // (request headers, path, expected status, expected problem class)
                type Case = (
                    &'static [(&'static str, &'static str)],
                    &'static str,
                    u16,
                    &'static str,
                );
                let cases: &[Case] = &[
                    (&[], "/invoices", 400, "missing-tenant"),
                    (
                        &[("X-Tenant-ID", "ACME")],
                        "/invoices",
                        400,
                        "malformed-tenant",
                    ),
                    (
                        &[("X-Tenant-ID", "acme'; DROP TABLE invoices; --")],
                        "/invoices",
                        400,
                        "malformed-tenant",
                    ),
                    // globex is not allowed here: a conflict with it would tell that it exists.
                    (
                        &[("X-Tenant-ID", "acme"), ("Host", "globex.localhost")],
                        "/invoices",
                        404,
                        "tenant-unavailable",
                    ),
                    (
                        &[("X-Tenant-ID", "acme")],
                        "/t/globex/invoices",
                        404,
                        "tenant-unavailable",
                    ),
                    // Unknown, inactive and not allowed: the service is anonymous, so one answer.
                    (
                        &[("X-Tenant-ID", "nobody")],
                        "/invoices",
                        404,
                        "tenant-unavailable",
                    ),
                    (
                        &[("Host", "nobody.localhost")],
                        "/invoices",
                        404,
                        "tenant-unavailable",
                    ),
                    (
                        &[("X-Tenant-ID", "dormant")],
                        "/invoices",
                        404,
                        "tenant-unavailable",
                    ),
                    (
                        &[("X-Tenant-ID", "globex")],
                        "/invoices",
                        404,
                        "tenant-unavailable",
                    ),
                    (
                        &[("X-Tenant-ID", "globex")],
                        "/whoami",
                        404,
                        "tenant-unavailable",
                    ),
                    (&[], "/t/dormant/invoices", 404, "tenant-unavailable"),
                    // A path a normalising proxy would read as another tenant's.
                    (&[], "/t/acme/../globex/invoices", 400, "malformed-tenant"),
                    (
                        &[],
                        "/t/acme/%2e%2e/globex/invoices",
                        400,
                        "malformed-tenant",
                    ),
                    // A host with repeated trailing dots.
                    (
                        &[("Host", "acme.localhost..")],
                        "/invoices",
                        400,
                        "malformed-tenant",
                    ),
                    (&[], "/whoami", 400, "missing-tenant"),
                ];
                let mut unavailable = Vec::new();
                for &(headers, path, status, class) in cases {
                    let reply = call(addr, "GET", path, headers, None).await;
                    assert_eq!(reply.status, status, "{headers:?} {path}: {}", reply.body);
                    assert_eq!(
                        reply.content_type, "application/problem+json",
                        "{headers:?} {path}"
                    );
                    let problem = reply.json();
                    assert_eq!(problem["type"], format!("urn:tenant:problem:{class}"));
                    if class == "tenant-unavailable" {
                        unavailable.push(reply.body.clone());
                    }
                    assert_eq!(problem["status"], status);
                    for tenant in ["acme", "globex", "dormant", "nobody"] {
                        assert!(
                            !reply.body.contains(tenant),
                            "{path} leaks {tenant}: {}",
                            reply.body
                        );
                    }
                }
                // One identical body, whichever tenant was unavailable and why.
                assert!(unavailable.len() >= 5);
                assert!(
                    unavailable.iter().all(|body| *body == unavailable[0]),
                    "{unavailable:?}"
                );
                // No data was written or read by any of them.
                let list = call(addr, "GET", "/invoices", &[("X-Tenant-ID", "acme")], None).await;
                assert_eq!(list.status, 200);
                assert!(ids(&list).is_empty());
            }

            #[tokio::test]
            async fn single_tenant_mode_serves_the_default_tenant_only() {
                let Some(db) = $db else { return };
                let addr = serve(db, TenancyConfig::single_tenant("globex".parse().unwrap())).await;
                let created = call(
                    addr,
                    "POST",
                    "/invoices",
                    &[],
                    Some(r#"{"id":7,"customer":"c","amount_cents":1}"#),
                )
                .await;
                assert_eq!(created.json()["tenant_id"], "globex");
                assert_eq!(
                    call(addr, "GET", "/invoices", &[("X-Tenant-ID", "acme")], None)
                        .await
                        .status,
                    404
                );
            }
        }
    };
}

http_suite!(sqlite, Some(app::Db::Sqlite(support::sqlite().await)));
http_suite!(
    postgres,
    support::postgres("http").await.map(app::Db::Postgres)
);

/// A handler whose data call is refused because its tenant is being moved (`Fenced`) or has
/// just moved (`Moved`) answers the 503 problem with `Retry-After`, naming no tenant; so does an
/// empty pool; any other database error stays a 500.
#[test]
fn a_moving_tenant_is_answered_503_with_retry_after() {
    use axum::response::IntoResponse;

    let tenant: tenant::TenantId = "acme".parse().unwrap();
    for refused in [
        tenant::sqlx::Error::Fenced {
            tenant: tenant.clone(),
        },
        tenant::sqlx::Error::Moved {
            tenant: tenant.clone(),
        },
    ] {
        let response = app::ApiError::from(refused).into_response();
        assert_eq!(response.status(), 503);
        assert_eq!(
            response.headers()["retry-after"],
            app::MOVE_RETRY_AFTER.as_secs().to_string()
        );
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
    }
    // No connection free in time is retryable too (the library's `database-busy`); any other
    // database error is a 500 that says nothing of the database's words.
    let busy = tenant::sqlx::Error::Database(sqlx::Error::PoolTimedOut);
    let response = app::ApiError::from(busy).into_response();
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "1");
    let other = tenant::sqlx::Error::Database(sqlx::Error::Protocol("broken".into()));
    assert_eq!(app::ApiError::from(other).into_response().status(), 500);
}
