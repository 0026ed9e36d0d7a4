//! The request boundary: every error class with its status and problem body, conflicts, single-
//! tenant mode, the allow-list, the user hook, one answer for unavailable tenants to whoever is
//! not their member, and hosts and paths a proxy could read differently. The model of the
//! documented rules is checked on generated requests in `tests/fuzz.rs`.

mod common;

use common::{Members, Registry, builder, parts, resolver};

use tenant_test_support as support;

use std::future::Future;

use http::request::Parts;
use tenant::TenancyConfig;
use tenant::http::{ResolveError, Source, TenantResolver, UserHook};

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
