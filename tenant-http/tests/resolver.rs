//! The request boundary: every error class with its status and problem body, conflicts, single-
//! tenant mode, the allow-list, the user hook, one answer for unavailable tenants to whoever is
//! not their member, hosts and paths a proxy could read differently, a property test of the
//! resolution order against a model of the documented rules, and random bytes in every source.

use tenant_test_support as support;

use std::collections::HashMap;
use std::future::Future;
use std::io::Write;
use std::time::SystemTime;

use http::request::Parts;
use tenant::TenancyConfig;
use tenant::http::{
    Anonymous, AuthenticatedUser, ResolveError, Source, TenantResolver, TenantResolverBuilder,
    UserHook,
};
use tenant::{Plan, Tenant, TenantId, TenantRegistry};

/// Tenants by id: `acme` (slug `acme-co`), `globex`, `dormant` (inactive), `banned` (active,
/// never on the allow-list of these tests).
struct Registry(HashMap<TenantId, Tenant>);

impl Registry {
    fn new() -> Self {
        let tenant = |id: &str, slug: &str, active: bool| Tenant {
            id: id.parse().unwrap(),
            slug: slug.parse().unwrap(),
            name: id.to_uppercase(),
            plan: Plan::Pro,
            schema_name: format!("tenant_{id}").parse().unwrap(),
            is_active: active,
            created_at: SystemTime::UNIX_EPOCH,
            updated_at: SystemTime::UNIX_EPOCH,
        };
        Registry(
            [
                tenant("acme", "acme-co", true),
                tenant("globex", "globex", true),
                tenant("dormant", "dormant", false),
                tenant("banned", "banned", true),
            ]
            .into_iter()
            .map(|t| (t.id.clone(), t))
            .collect(),
        )
    }
}

impl TenantRegistry for Registry {
    type Error = std::convert::Infallible;

    async fn find_by_id(&self, id: &TenantId) -> Result<Option<Tenant>, Self::Error> {
        Ok(self.0.get(id).cloned())
    }

    async fn find_by_slug(&self, slug: &TenantId) -> Result<Option<Tenant>, Self::Error> {
        Ok(self.0.values().find(|t| t.slug == *slug).cloned())
    }
}

fn allowed() -> TenancyConfig {
    TenancyConfig::default()
        .with_allowed(["acme", "globex", "dormant"].map(|id| id.parse().unwrap()))
}

fn builder() -> TenantResolverBuilder<Registry> {
    TenantResolver::new(Registry::new(), allowed()).base_domain("example.com")
}

/// The resolver of a service without users.
fn resolver() -> TenantResolver<Registry, Anonymous> {
    builder().anonymous()
}

fn parts(header: Option<&str>, host: Option<&str>, path: &str) -> Parts {
    let mut request = http::Request::get(path);
    if let Some(header) = header {
        request = request.header("x-tenant-id", header);
    }
    if let Some(host) = host {
        request = request.header("host", host);
    }
    request.body(()).unwrap().into_parts().0
}

async fn resolve(header: Option<&str>, host: Option<&str>, path: &str) -> Result<String, String> {
    resolver()
        .resolve(&parts(header, host, path))
        .await
        .map(|ctx| ctx.tenant_id().to_string())
        .map_err(|e| e.class().to_owned())
}

#[tokio::test]
async fn each_source_resolves_alone_and_together() {
    assert_eq!(resolve(Some("acme"), None, "/").await, Ok("acme".into()));
    assert_eq!(
        resolve(None, Some("acme-co.example.com"), "/").await,
        Ok("acme".into())
    );
    assert_eq!(
        resolve(None, Some("ACME-CO.Example.com:8443"), "/").await,
        Ok("acme".into())
    );
    assert_eq!(
        resolve(None, None, "/t/acme-co/invoices").await,
        Ok("acme".into())
    );
    assert_eq!(resolve(None, None, "/t/acme-co").await, Ok("acme".into()));
    assert_eq!(
        resolve(Some("acme"), Some("acme-co.example.com"), "/t/acme-co/x").await,
        Ok("acme".into())
    );
    // The base domain itself and foreign hosts name no tenant.
    assert_eq!(
        resolve(Some("globex"), Some("example.com"), "/").await,
        Ok("globex".into())
    );
    assert_eq!(
        resolve(Some("globex"), Some("10.0.0.1:80"), "/").await,
        Ok("globex".into())
    );
}

#[tokio::test]
async fn every_error_class_has_its_status_and_a_problem_body_without_tenant_data() {
    // (header, host, path, expected class, expected status)
    type Case = (
        Option<&'static str>,
        Option<&'static str>,
        &'static str,
        &'static str,
        u16,
    );
    let cases: &[Case] = &[
        (None, None, "/invoices", "missing-tenant", 400),
        (Some("ACME"), None, "/", "malformed-tenant", 400),
        (Some("acme' OR 1=1 --"), None, "/", "malformed-tenant", 400),
        (None, Some("a.b.example.com"), "/", "malformed-tenant", 400),
        (
            None,
            Some("bad_slug.example.com"),
            "/",
            "malformed-tenant",
            400,
        ),
        (None, None, "/t//invoices", "malformed-tenant", 400),
        (None, None, "/t/acme%20co/", "malformed-tenant", 400),
        (
            Some("acme"),
            Some("globex.example.com"),
            "/",
            "conflicting-tenant",
            400,
        ),
        (Some("acme"), None, "/t/globex/", "conflicting-tenant", 400),
        (None, None, "/t/acme-co/../globex/", "malformed-tenant", 400),
        (
            None,
            Some("acme-co.example.com.."),
            "/",
            "malformed-tenant",
            400,
        ),
        // Unknown, inactive and not allowed: one answer to an unauthenticated caller.
        (Some("nobody"), None, "/", "tenant-unavailable", 404),
        (
            None,
            Some("nobody.example.com"),
            "/",
            "tenant-unavailable",
            404,
        ),
        (None, None, "/t/nobody/", "tenant-unavailable", 404),
        (Some("dormant"), None, "/", "tenant-unavailable", 404),
        (Some("banned"), None, "/", "tenant-unavailable", 404),
    ];
    for &(header, host, path, class, status) in cases {
        let error = resolver()
            .resolve(&parts(header, host, path))
            .await
            .unwrap_err();
        assert_eq!(
            (error.class(), error.status()),
            (class, status),
            "{header:?} {host:?} {path}"
        );
        let problem = serde_json::to_value(error.problem()).unwrap();
        assert_eq!(problem["status"], status);
        assert_eq!(problem["type"], format!("urn:tenant:problem:{class}"));
        let body = problem.to_string();
        for name in ["acme", "globex", "dormant", "banned", "nobody", "ACME"] {
            assert!(!body.contains(name), "problem body leaks {name}: {body}");
        }
    }
}

#[tokio::test]
async fn a_duplicated_header_is_malformed_not_a_pick() {
    let request = http::Request::get("/")
        .header("x-tenant-id", "acme")
        .header("x-tenant-id", "globex")
        .body(())
        .unwrap();
    let error = resolver()
        .resolve(&request.into_parts().0)
        .await
        .unwrap_err();
    assert!(matches!(error, ResolveError::Malformed(Source::Header)));
    let request = http::Request::get("/")
        .header("host", "acme-co.example.com")
        .header("host", "globex.example.com")
        .body(())
        .unwrap();
    let error = resolver()
        .resolve(&request.into_parts().0)
        .await
        .unwrap_err();
    assert!(matches!(error, ResolveError::Malformed(Source::Subdomain)));
}

#[tokio::test]
async fn single_tenant_mode_resolves_the_default_and_rejects_others() {
    let resolver = TenantResolver::new(
        Registry::new(),
        TenancyConfig::single_tenant("globex".parse().unwrap()),
    )
    .anonymous();
    let ctx = resolver.resolve(&parts(None, None, "/")).await.unwrap();
    assert_eq!(ctx.tenant_id().as_str(), "globex");
    assert_eq!(ctx.schema_name().as_str(), "tenant_globex");
    assert!(
        resolver
            .resolve(&parts(Some("globex"), None, "/"))
            .await
            .is_ok()
    );
    let error = resolver
        .resolve(&parts(Some("acme"), None, "/"))
        .await
        .unwrap_err();
    assert_eq!(error.class(), "tenant-unavailable");
    // A member of the other tenant is told why.
    let request = http::Request::get("/")
        .header("x-tenant-id", "acme")
        .header("x-user", "root")
        .body(())
        .unwrap();
    let error = TenantResolver::new(
        Registry::new(),
        TenancyConfig::single_tenant("globex".parse().unwrap()),
    )
    .users(Members)
    .resolve(&request.into_parts().0)
    .await
    .unwrap_err();
    assert_eq!((error.class(), error.status()), ("tenant-not-allowed", 403));
    // A default tenant that is not registered is an error, not an empty context.
    let missing = TenantResolver::new(
        Registry::new(),
        TenancyConfig::single_tenant("ghost".parse().unwrap()),
    )
    .anonymous();
    assert_eq!(
        missing
            .resolve(&parts(None, None, "/"))
            .await
            .unwrap_err()
            .status(),
        404
    );
}

struct Members;

impl UserHook for Members {
    async fn user(
        &self,
        parts: &Parts,
        tenant: &Tenant,
    ) -> Result<Option<AuthenticatedUser>, ResolveError> {
        let Some(user) = parts.headers.get("x-user").and_then(|v| v.to_str().ok()) else {
            return Ok(None);
        };
        // alice belongs to acme only, root to every tenant.
        match (user, tenant.id.as_str()) {
            ("alice", "acme") | ("root", _) => Ok(Some(AuthenticatedUser {
                user_id: user.into(),
                roles: vec!["admin".into()],
            })),
            _ => Err(ResolveError::NotMember),
        }
    }
}

#[tokio::test]
async fn the_user_hook_adds_the_user_and_checks_membership() {
    let resolver = builder().users(Members);
    let request = |tenant: &str| {
        http::Request::get("/")
            .header("x-tenant-id", tenant)
            .header("x-user", "alice")
            .body(())
            .unwrap()
            .into_parts()
            .0
    };
    let ctx = resolver.resolve(&request("acme")).await.unwrap();
    assert_eq!(ctx.user_id(), Some("alice"));
    assert!(ctx.has_role("admin"));
    let error = resolver.resolve(&request("globex")).await.unwrap_err();
    assert_eq!((error.class(), error.status()), ("not-a-member", 403));
}

/// A small deterministic generator (xorshift64*), so failures reproduce from the printed seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next() % items.len() as u64) as usize]
    }
}

/// The documented rules, written independently of the resolver: what a request of an
/// unauthenticated caller should resolve to given what each source names.
fn model(
    order: &[Source],
    header: Option<&str>,
    host: Option<&str>,
    path: &str,
) -> Result<String, String> {
    let registry = Registry::new();
    let by_slug = |slug: &str| {
        registry
            .0
            .values()
            .find(|t| t.slug.as_str() == slug)
            .map(|t| t.id.to_string())
    };
    let mut found: Vec<String> = Vec::new();
    for source in order {
        let named: Option<Result<Option<String>, ()>> = match source {
            Source::Header => header.map(|h| {
                h.parse::<TenantId>()
                    .map_err(|_| ())
                    .map(|id| registry.0.get(&id).map(|t| t.id.to_string()))
            }),
            Source::Subdomain => host.and_then(|h| {
                let h = h.to_ascii_lowercase();
                let h = h.strip_suffix('.').unwrap_or(&h);
                if h.split('.').any(str::is_empty) {
                    return Some(Err(()));
                }
                let label = h.strip_suffix(".example.com")?;
                Some(if label.contains('.') {
                    Err(())
                } else {
                    label
                        .parse::<TenantId>()
                        .map_err(|_| ())
                        .map(|slug| by_slug(slug.as_str()))
                })
            }),
            Source::Path
                if path.starts_with("//")
                    || path.split('/').any(|segment| {
                        [".", "..", "%2e", "%2e%2e", ".%2e", "%2e."]
                            .contains(&segment.to_ascii_lowercase().as_str())
                    }) =>
            {
                Some(Err(()))
            }
            Source::Path => path.strip_prefix("/t/").map(|rest| {
                let slug = rest.split('/').next().unwrap();
                slug.parse::<TenantId>()
                    .map_err(|_| ())
                    .map(|slug| by_slug(slug.as_str()))
            }),
        };
        match named {
            None => {}
            Some(Err(())) => return Err("malformed-tenant".into()),
            // Unknown, inactive or not allowed: one answer, before any conflict.
            Some(Ok(None)) => return Err("tenant-unavailable".into()),
            Some(Ok(Some(id))) if ["dormant", "banned"].contains(&id.as_str()) => {
                return Err("tenant-unavailable".into());
            }
            Some(Ok(Some(id))) => found.push(id),
        }
    }
    let Some(first) = found.first() else {
        return Err("missing-tenant".into());
    };
    if found.iter().any(|id| id != first) {
        return Err("conflicting-tenant".into());
    }
    Ok(first.clone())
}

#[tokio::test]
async fn resolution_follows_the_documented_order_on_random_requests() {
    let headers = [
        None,
        Some("acme"),
        Some("globex"),
        Some("dormant"),
        Some("banned"),
        Some("nobody"),
        Some("Acme"),
        Some(""),
    ];
    let hosts = [
        None,
        Some("example.com"),
        Some("acme-co.example.com"),
        Some("globex.example.com"),
        Some("dormant.example.com"),
        Some("nobody.example.com"),
        Some("x.y.example.com"),
        Some("ACME-CO.EXAMPLE.COM"),
        Some("other.org"),
        Some("acme-co.example.com."),
        Some("globex.example.com.."),
        Some("example.com.."),
    ];
    let paths = [
        "/",
        "/t/acme-co/a",
        "/t/globex",
        "/t/nobody/",
        "/t//",
        "/t/Acme/",
        "/tx/acme-co",
        "/t/banned/z",
        "/t/acme-co/../globex/",
        "/t/globex/%2E/x",
        "//t/globex/",
    ];
    let orders = [
        vec![Source::Header, Source::Subdomain, Source::Path],
        vec![Source::Path, Source::Subdomain, Source::Header],
        vec![Source::Subdomain, Source::Header],
        vec![Source::Path],
    ];
    let seed = 0x5eed_u64;
    let mut rng = Rng(seed);
    let mut cases = 0;
    for _ in 0..4_000 {
        let order = rng.pick(&orders).clone();
        let (header, host, path) = (*rng.pick(&headers), *rng.pick(&hosts), *rng.pick(&paths));
        let resolver = builder().order(order.clone()).anonymous();
        let request = parts(header, host, path);
        let got = resolver
            .resolve(&request)
            .await
            .map(|c| c.tenant_id().to_string())
            .map_err(|e| e.class().to_owned());
        let again = resolver
            .resolve(&request)
            .await
            .map(|c| c.tenant_id().to_string())
            .map_err(|e| e.class().to_owned());
        assert_eq!(
            got, again,
            "not deterministic: {order:?} {header:?} {host:?} {path} (seed {seed})"
        );
        assert_eq!(
            got,
            model(&order, header, host, path),
            "{order:?} {header:?} {host:?} {path} (seed {seed})"
        );
        cases += 1;
    }
    assert_eq!(cases, 4_000);
}

#[tokio::test]
async fn random_bytes_in_every_source_give_typed_errors_never_a_panic() {
    let mut rng = Rng(0xf022_u64);
    let mut rejected = 0;
    let mut tried = 0;
    for _ in 0..20_000 {
        // Half arbitrary bytes, half bytes that matter to the parsers (separators, case,
        // percent, quotes, whitespace), so most inputs get past `http` and reach the resolver.
        const NEAR: &[u8] = b"acmeglobxz0129-._/:%AEZ @'\";#\\";
        let len = (rng.next() % 24) as usize;
        let bytes: Vec<u8> = (0..len)
            .map(|_| match rng.next() % 2 {
                0 => rng.next() as u8,
                _ => *rng.pick(NEAR),
            })
            .collect();
        let mut request = http::Request::builder();
        match rng.next() % 4 {
            0 => request = request.uri("/").header("x-tenant-id", bytes.as_slice()),
            1 => {
                let mut host = bytes.clone();
                if rng.next().is_multiple_of(2) {
                    host.extend(b".example.com");
                }
                request = request.uri("/").header("host", host.as_slice());
            }
            2 => {
                let mut path = b"/t/".to_vec();
                path.extend(&bytes);
                request = request.uri(path.as_slice());
            }
            _ => {
                // An absolute-form target beside a Host header, the bytes in either.
                let mut uri = b"http://".to_vec();
                uri.extend(&bytes);
                uri.extend(b".example.com/");
                let host: &[u8] = match rng.next() % 2 {
                    0 => &bytes,
                    _ => b"acme-co.example.com",
                };
                request = request.uri(uri.as_slice()).header("host", host);
            }
        }
        // Bytes that http itself refuses never reach a server; skip them.
        let Ok(request) = request.body(()) else {
            continue;
        };
        tried += 1;
        match resolver().resolve(&request.into_parts().0).await {
            Ok(ctx) => assert!(["acme", "globex"].contains(&ctx.tenant_id().as_str())),
            Err(error) => {
                assert!(matches!(error.status(), 400 | 403 | 404), "{error:?}");
                rejected += 1;
            }
        }
    }
    assert!(
        tried > 6_000 && rejected > 5_000,
        "tried {tried}, rejected {rejected}"
    );
    let _ = writeln!(
        std::io::stderr(),
        "fuzz: {tried} requests reached the resolver, {rejected} rejected"
    );
}

#[tokio::test]
async fn every_resolution_and_rejection_is_audited_without_naming_other_tenants() {
    let (log, _guard) = support::capture_audit();
    resolver()
        .resolve(&parts(Some("acme"), None, "/"))
        .await
        .unwrap();
    resolver()
        .resolve(&parts(Some("acme"), Some("globex.example.com"), "/"))
        .await
        .unwrap_err();
    resolver()
        .resolve(&parts(Some("dormant"), None, "/"))
        .await
        .unwrap_err();
    let log = support::text(&log);
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 3, "{log}");
    assert!(
        lines[0].contains("tenant resolved") && lines[0].contains("tenant_id=acme"),
        "{log}"
    );
    assert!(
        lines[1].contains("tenant rejected") && lines[1].contains("conflicting-tenant"),
        "{log}"
    );
    // The precise class for the audit, beside the one answer the caller got.
    assert!(
        lines[2].contains("tenant rejected")
            && lines[2].contains("inactive-tenant")
            && lines[2].contains("tenant-unavailable")
            && lines[2].contains("404"),
        "{log}"
    );
    for rejected in &lines[1..] {
        for tenant in ["acme", "globex", "dormant"] {
            assert!(
                !rejected.contains(tenant),
                "a rejection names {tenant}: {rejected}"
            );
        }
    }
}

#[tokio::test]
async fn unauthenticated_callers_cannot_tell_unknown_inactive_and_not_allowed_apart() {
    // A service without users, and one whose hook finds no user in these requests.
    let anonymous = resolver();
    let no_user = builder().users(Members);
    let mut answers = Vec::new();
    for tenant in ["nobody", "dormant", "banned"] {
        let host = format!("{tenant}.example.com");
        let path = format!("/t/{tenant}/x");
        for request in [
            parts(Some(tenant), None, "/"),
            parts(None, Some(&host), "/"),
            parts(None, None, &path),
            // Paired with a tenant the caller can resolve: no conflict oracle.
            parts(Some("globex"), None, &path),
        ] {
            for resolver in [&anonymous as &dyn Resolve, &no_user] {
                let error = resolver.resolve_dyn(&request).await.unwrap_err();
                let body = serde_json::to_string(&error.problem()).unwrap();
                answers.push((error.status(), body, tenant));
            }
        }
    }
    // Single-tenant mode: another tenant is as unavailable as an unknown one.
    let single = TenantResolver::new(
        Registry::new(),
        TenancyConfig::single_tenant("globex".parse().unwrap()),
    )
    .anonymous();
    for tenant in ["nobody", "acme", "dormant"] {
        let error = single
            .resolve(&parts(Some(tenant), None, "/"))
            .await
            .unwrap_err();
        let body = serde_json::to_string(&error.problem()).unwrap();
        answers.push((error.status(), body, tenant));
    }
    let (status, body, _) = answers[0].clone();
    for (other_status, other_body, tenant) in &answers {
        assert_eq!(
            (*other_status, other_body),
            (status, &body),
            "{tenant} answers differently"
        );
    }
    assert_eq!(status, 404, "{body}");
    assert_eq!(
        body,
        serde_json::to_string(&ResolveError::Unavailable.problem()).unwrap()
    );
}

#[tokio::test]
async fn only_members_learn_why_their_tenant_is_refused_and_the_audit_keeps_the_class() {
    let resolver = builder().users(Members);
    let request = |tenant: &str, user: &str| {
        http::Request::get("/")
            .header("x-tenant-id", tenant)
            .header("x-user", user)
            .body(())
            .unwrap()
            .into_parts()
            .0
    };
    let (log, _guard) = support::capture_audit();
    // (tenant, user, class answered, precise class in the audit)
    let cases = [
        ("dormant", "root", "inactive-tenant", "inactive-tenant"),
        ("banned", "root", "tenant-not-allowed", "tenant-not-allowed"),
        // Nobody is a member of an unknown tenant.
        ("nobody", "root", "tenant-unavailable", "unknown-tenant"),
        // An authenticated non-member learns no more than an anonymous caller.
        ("dormant", "alice", "tenant-unavailable", "inactive-tenant"),
        (
            "banned",
            "alice",
            "tenant-unavailable",
            "tenant-not-allowed",
        ),
        // An available tenant: the hook's own answer.
        ("globex", "alice", "not-a-member", "not-a-member"),
    ];
    for (tenant, user, answered, _) in cases {
        let error = resolver.resolve(&request(tenant, user)).await.unwrap_err();
        assert_eq!(error.class(), answered, "{tenant} as {user}");
    }
    let log = support::text(&log);
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), cases.len(), "{log}");
    for ((tenant, user, answered, precise), line) in cases.iter().zip(&lines) {
        assert!(
            line.contains(&format!("class=\"{precise}\""))
                && line.contains(&format!("answer=\"{answered}\"")),
            "{tenant} as {user}: {line}"
        );
    }
}

/// Resolvers with different user hooks behind one type, for tests that ask both.
trait Resolve {
    fn resolve_dyn<'a>(
        &'a self,
        parts: &'a Parts,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<tenant::TenantCtx, ResolveError>> + 'a>>;
}

impl<U: UserHook> Resolve for TenantResolver<Registry, U> {
    fn resolve_dyn<'a>(
        &'a self,
        parts: &'a Parts,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<tenant::TenantCtx, ResolveError>> + 'a>> {
        Box::pin(self.resolve(parts))
    }
}

/// A request with an absolute-form target (as sent to a proxy, or HTTP/2's `:authority`).
fn absolute(uri: &str, host: Option<&str>) -> Parts {
    let mut request = http::Request::get(uri);
    if let Some(host) = host {
        request = request.header("host", host);
    }
    request.body(()).unwrap().into_parts().0
}

#[tokio::test]
async fn a_host_header_that_differs_from_the_absolute_uri_authority_is_malformed() {
    for (uri, host) in [
        ("http://globex.example.com/x", "acme-co.example.com"),
        ("http://acme-co.example.com/x", "globex.example.com"),
        ("http://acme-co.example.com/x", "example.com"),
        ("http://example.com/x", "acme-co.example.com"),
        (
            "http://acme-co.example.com:8080/x",
            "acme-co.example.com:8081",
        ),
    ] {
        let result = resolver().resolve(&absolute(uri, Some(host))).await;
        assert!(
            matches!(result, Err(ResolveError::Malformed(Source::Subdomain))),
            "{uri} with Host {host}: {result:?}"
        );
    }
    // The same authority (case and the scheme's default port aside) resolves.
    for (uri, host) in [
        ("http://acme-co.example.com/x", Some("acme-co.example.com")),
        ("http://ACME-CO.example.com/x", Some("acme-co.EXAMPLE.com")),
        (
            "http://acme-co.example.com/x",
            Some("acme-co.example.com:80"),
        ),
        (
            "https://acme-co.example.com:443/x",
            Some("acme-co.example.com"),
        ),
        ("http://acme-co.example.com/x", None),
    ] {
        let ctx = resolver().resolve(&absolute(uri, host)).await.unwrap();
        assert_eq!(ctx.tenant_id().as_str(), "acme", "{uri} {host:?}");
    }
}

#[tokio::test]
async fn dot_segments_anywhere_in_the_path_are_malformed() {
    for path in [
        "/t/acme-co/../globex/x",
        "/t/acme-co/./x",
        "/t/acme-co/%2e%2e/globex/x",
        "/t/acme-co/%2E%2E/globex/x",
        "/t/acme-co/.%2e/globex",
        "/t/acme-co/%2e",
        "/t/acme-co/..",
        "/t/acme-co/..;/globex/x",
        "/x/../t/globex/x",
        "/./t/acme-co/x",
    ] {
        let result = resolver().resolve(&parts(None, None, path)).await;
        assert!(
            matches!(result, Err(ResolveError::Malformed(Source::Path))),
            "{path}: {result:?}"
        );
        // Also when another source names the tenant the proxy did not see.
        let result = resolver().resolve(&parts(Some("acme"), None, path)).await;
        assert!(
            matches!(result, Err(ResolveError::Malformed(Source::Path))),
            "{path} with a header: {result:?}"
        );
    }
    // Dots inside a segment are not dot segments.
    for path in [
        "/t/acme-co/a.b",
        "/t/acme-co/...",
        "/t/acme-co/.well-known",
        "/t/acme-co/x/%2e%2ex",
    ] {
        let ctx = resolver().resolve(&parts(None, None, path)).await.unwrap();
        assert_eq!(ctx.tenant_id().as_str(), "acme", "{path}");
    }
}

#[tokio::test]
async fn a_path_that_names_a_tenant_once_slashes_are_merged_is_malformed() {
    for path in ["//t/globex/x", "/t//globex/x", "///t/globex"] {
        let result = resolver().resolve(&parts(Some("acme"), None, path)).await;
        assert!(
            matches!(result, Err(ResolveError::Malformed(Source::Path))),
            "{path}: {result:?}"
        );
    }
    let ctx = resolver()
        .resolve(&parts(None, None, "/t/acme-co//x"))
        .await
        .unwrap();
    assert_eq!(ctx.tenant_id().as_str(), "acme");
}

#[tokio::test]
async fn hosts_with_repeated_trailing_dots_or_empty_labels_are_malformed() {
    for host in [
        "acme-co.example.com..",
        "acme-co.example.com...",
        "acme-co.example.com..:8080",
        "example.com..",
        "acme-co..example.com",
        ".acme-co.example.com",
        "other..org",
        ".",
    ] {
        let result = resolver()
            .resolve(&parts(Some("globex"), Some(host), "/"))
            .await;
        assert!(
            matches!(result, Err(ResolveError::Malformed(Source::Subdomain))),
            "{host}: {result:?}"
        );
    }
    // One trailing dot is the absolute form of the same name.
    for host in ["acme-co.example.com.", "ACME-CO.example.com.:443"] {
        let ctx = resolver()
            .resolve(&parts(None, Some(host), "/"))
            .await
            .unwrap();
        assert_eq!(ctx.tenant_id().as_str(), "acme", "{host}");
    }
    let ctx = resolver()
        .resolve(&parts(Some("globex"), Some("example.com."), "/"))
        .await
        .unwrap();
    assert_eq!(ctx.tenant_id().as_str(), "globex");
}
