//! Authentication is part of the type: through a real axum router, a resolver with a user hook
//! answers a request without credentials with a `401` problem, not with a context; a route takes
//! unauthenticated callers only through its own extractor, and a handler that needs a member
//! says so in its signature. An unknown, an inactive and a disallowed tenant cost the resolver
//! the same work and get the same bytes.

mod common;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::request::Parts;
use http::{Request, StatusCode};
use tenant::Tenant;
use tenant::TenantCtx;
use tenant::http::{AnyCaller, AuthenticatedUser, Member, ResolveError, TenantLayer, UserHook};
use tower::ServiceExt;

use common::{Members, builder, resolver};

async fn whoami(ctx: TenantCtx) -> String {
    format!("{} {}", ctx.tenant_id(), ctx.user_id().unwrap_or("nobody"))
}

/// Status, `content-type`, `www-authenticate` and body of `request` sent to `app`.
async fn send(app: &Router, request: Request<Body>) -> (StatusCode, String, String, String) {
    let response = app.clone().oneshot(request).await.unwrap();
    let header = |name| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    let (content_type, challenge) = (header("content-type"), header("www-authenticate"));
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 1 << 16)
        .await
        .unwrap();
    (
        status,
        content_type,
        challenge,
        String::from_utf8(body.to_vec()).unwrap(),
    )
}

fn get_as(uri: &str, tenant: &str, user: Option<&str>) -> Request<Body> {
    let mut request = Request::get(uri).header("x-tenant-id", tenant);
    if let Some(user) = user {
        request = request.header("x-user", user);
    }
    request.body(Body::empty()).unwrap()
}

/// The regression of issue 21, item 2: dropping the cookie turned "not a member" into access.
#[tokio::test]
async fn a_request_without_credentials_is_401_not_an_anonymous_context() {
    let app = Router::new()
        .route("/whoami", get(whoami))
        .with_state(builder().users(Members).shared());

    let (status, _, _, body) = send(&app, get_as("/whoami", "acme", Some("alice"))).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "acme alice"));
    // An authenticated non-member is refused...
    let (status, _, _, _) = send(&app, get_as("/whoami", "globex", Some("alice"))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // ...and so is the same request without its cookie: no context, a 401 problem.
    let (status, content_type, _, body) = send(&app, get_as("/whoami", "globex", None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(content_type, "application/problem+json");
    let problem: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(problem["type"], "urn:tenant:problem:unauthenticated");
    assert_eq!(problem["status"], 401);
    assert!(!body.contains("globex"), "{body}");
}

async fn prices(AnyCaller(ctx): AnyCaller) -> String {
    format!("{} {}", ctx.tenant_id(), ctx.user_id().unwrap_or("nobody"))
}

async fn mine(member: Member) -> String {
    // A member's user id is a `&str`, not an `Option`: the type says there is one.
    format!(
        "{} {} {:?}",
        member.tenant_id(),
        member.user_id(),
        member.roles()
    )
}

fn app(resolver: tenant::http::SharedResolver) -> Router {
    Router::new()
        .route("/whoami", get(whoami))
        .route("/prices", get(prices))
        .route("/mine", get(mine))
        .with_state(resolver)
}

#[tokio::test]
async fn a_route_that_takes_any_caller_serves_requests_without_credentials() {
    let app = app(builder().users(Members).shared());
    let (status, _, _, body) = send(&app, get_as("/prices", "acme", None)).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "acme nobody"));
    // With credentials, the context carries the member.
    let (status, _, _, body) = send(&app, get_as("/prices", "acme", Some("alice"))).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "acme alice"));
    // Taking anyone is not taking a non-member, nor an unavailable tenant.
    let (status, _, _, _) = send(&app, get_as("/prices", "globex", Some("alice"))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    for tenant in ["nobody", "dormant", "banned"] {
        let (status, _, _, _) = send(&app, get_as("/prices", tenant, None)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{tenant}");
    }
    // Beside it, the routes that did not say so still refuse the same request.
    for route in ["/whoami", "/mine"] {
        let (status, _, _, _) = send(&app, get_as(route, "acme", None)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{route}");
    }
}

#[tokio::test]
async fn a_handler_that_needs_a_member_says_so_in_its_signature() {
    let app = app(builder().users(Members).shared());
    let (status, _, _, body) = send(&app, get_as("/mine", "acme", Some("alice"))).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::OK, r#"acme alice ["admin"]"#)
    );
    let (status, _, _, _) = send(&app, get_as("/mine", "globex", Some("alice"))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _, body) = send(&app, get_as("/mine", "acme", None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");

    // An anonymous resolver has no members: the member route is refused, the others served.
    let app = self::app(resolver().shared());
    let (status, content_type, _, body) = send(&app, get_as("/mine", "acme", Some("alice"))).await;
    assert_eq!(
        (status, content_type.as_str()),
        (StatusCode::UNAUTHORIZED, "application/problem+json"),
        "{body}"
    );
    for route in ["/whoami", "/prices"] {
        let (status, _, _, body) = send(&app, get_as(route, "acme", Some("alice"))).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "acme nobody"));
    }
}

#[tokio::test]
async fn the_layer_refuses_requests_without_credentials_too() {
    let app = Router::new()
        .route("/whoami", get(whoami))
        .route("/prices", get(prices))
        .layer(TenantLayer::new(builder().users(Members).shared()))
        .with_state(builder().users(Members).shared());
    for route in ["/whoami", "/prices"] {
        let (status, _, _, _) = send(&app, get_as(route, "acme", None)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{route}");
        let (status, _, _, body) = send(&app, get_as(route, "acme", Some("alice"))).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "acme alice"));
    }
}

/// [`Members`] for a service of bearer tokens, which says so in its `401`s.
struct Bearer;

impl UserHook for Bearer {
    async fn user(
        &self,
        parts: &Parts,
        tenant: &Tenant,
    ) -> Result<Option<AuthenticatedUser>, ResolveError> {
        Members.user(parts, tenant).await
    }

    fn challenge(&self) -> Option<http::HeaderValue> {
        Some(http::HeaderValue::from_static(r#"Bearer realm="invoices""#))
    }
}

#[tokio::test]
async fn a_401_carries_the_hooks_challenge_and_the_audit_its_class() {
    let app = app(builder().users(Bearer).shared());
    let (log, _guard) = tenant_test_support::capture_audit();
    let (status, _, challenge, body) = send(&app, get_as("/whoami", "acme", None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(challenge, r#"Bearer realm="invoices""#);
    assert_eq!(
        body,
        serde_json::to_string(&ResolveError::Unauthenticated.problem()).unwrap()
    );
    // Only a 401 challenges: a refused member, or an unavailable tenant, does not.
    for (tenant, user) in [("globex", Some("alice")), ("nobody", None)] {
        let (status, _, challenge, _) = send(&app, get_as("/whoami", tenant, user)).await;
        assert_ne!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(challenge, "", "{tenant}");
    }
    let log = tenant_test_support::text(&log);
    let first = log.lines().next().unwrap_or_default();
    assert!(
        first.contains("tenant rejected")
            && first.contains(r#"class="unauthenticated""#)
            && first.contains("401")
            && !first.contains("acme"),
        "{log}"
    );
}

/// What the resolver did, in order: each registry lookup and each question to the user hook.
type Log = std::sync::Arc<std::sync::Mutex<Vec<&'static str>>>;

/// The test registry, logging each lookup.
struct Logged(common::Registry, Log);

impl tenant::TenantRegistry for Logged {
    type Error = std::convert::Infallible;

    async fn find_by_id(&self, id: &tenant::TenantId) -> Result<Option<Tenant>, Self::Error> {
        self.1.lock().unwrap().push("find_by_id");
        self.0.find_by_id(id).await
    }

    async fn find_by_slug(&self, slug: &tenant::TenantId) -> Result<Option<Tenant>, Self::Error> {
        self.1.lock().unwrap().push("find_by_slug");
        self.0.find_by_slug(slug).await
    }
}

/// [`Members`], logging each question.
struct LoggedMembers(Log);

impl UserHook for LoggedMembers {
    async fn user(
        &self,
        parts: &Parts,
        tenant: &Tenant,
    ) -> Result<Option<AuthenticatedUser>, ResolveError> {
        self.0.lock().unwrap().push("user hook");
        Members.user(parts, tenant).await
    }
}

/// Issue 21, item 16: the hook was asked only about tenants that exist, so the time a request
/// took told an unknown tenant from an inactive or disallowed one. Every source, with and
/// without credentials, as a non-member: the same lookups, the same hook calls, the same bytes.
#[tokio::test]
async fn unknown_inactive_and_disallowed_tenants_cost_the_same_work_and_bytes() {
    let log = Log::default();
    let resolver = tenant::http::TenantResolver::new(
        Logged(common::Registry::new(), log.clone()),
        common::allowed(),
    )
    .base_domain("example.com")
    .users(LoggedMembers(log.clone()));
    let app = Router::new()
        .route("/{*rest}", get(whoami))
        .with_state(resolver.shared());

    let mut seen = Vec::new();
    for tenant in ["nobody", "dormant", "banned"] {
        for user in [None, Some("alice")] {
            let requests = [
                get_as("/x", tenant, user),
                Request::get("/x")
                    .header("host", format!("{tenant}.example.com"))
                    .header("x-user", user.unwrap_or_default())
                    .body(Body::empty())
                    .unwrap(),
                Request::get(format!("/t/{tenant}/x"))
                    .header("x-user", user.unwrap_or_default())
                    .body(Body::empty())
                    .unwrap(),
            ];
            for (source, request) in requests.into_iter().enumerate() {
                log.lock().unwrap().clear();
                let answer = send(&app, request).await;
                let work = log.lock().unwrap().clone();
                seen.push(((source, user), work, answer, tenant));
            }
        }
    }
    for (key, work, answer, tenant) in &seen {
        let (_, first_work, first_answer, _) = seen
            .iter()
            .find(|(first_key, ..)| first_key == key)
            .unwrap();
        assert_eq!(
            (work, answer),
            (first_work, first_answer),
            "{tenant} differs from nobody for {key:?}"
        );
        assert_eq!(answer.0, StatusCode::NOT_FOUND, "{tenant} {key:?}");
    }
}
