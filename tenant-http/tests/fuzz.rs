//! Property-based fuzzing of the request boundary's parsers: the
//! `X-Tenant-ID` header, the `Host` header and the request target, each `TENANT_FUZZ_CASES`
//! cases (default 256; CI runs 20,000).
//!
//! - Requests within the documented rules' vocabulary (one header, one `Host`, an origin-form
//!   path; values near the grammars: known ids and slugs, case changes, dots, dot segments,
//!   percent-escapes, repeated slashes) resolve exactly as the model of those rules says, the
//!   same way twice, whatever the order of sources.
//! - Arbitrary bytes anywhere (headers given twice, absolute-form targets beside a `Host`,
//!   ports, user info, escapes) never panic; a rejection is a typed `ResolveError` with a
//!   client status; a resolution is an available tenant that the request itself names.
//!
//! ```sh
//! TENANT_FUZZ_CASES=1000000 cargo test -p tenant-http --all-features --test fuzz --release
//! ```

mod common;

use std::cell::Cell;

use common::{Registry, builder, model, resolver};

use proptest::prelude::*;
use tenant::http::{Anonymous, Source, TenantResolver};
use tenant_test_support::fuzz::{cases, runner};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

/// A tenant id, slug or near miss: the registry's names, unknown ones, capitals, `_`, edge
/// hyphens, dots, empty.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec!["acme", "acme-co", "globex"]).prop_map(str::to_owned),
        2 => prop::sample::select(vec![
            "dormant", "banned", "nobody", "Acme", "ACME-CO", "", "-acme", "acme-", "acme_co",
        ])
        .prop_map(str::to_owned),
        1 => "[a-z0-9-]{1,10}",
        1 => "[a-zA-Z0-9_.-]{0,12}",
    ]
}

fn order() -> impl Strategy<Value = Vec<Source>> {
    (
        Just(vec![Source::Header, Source::Subdomain, Source::Path]).prop_shuffle(),
        1..=3usize,
    )
        .prop_map(|(mut sources, n)| {
            sources.truncate(n);
            sources
        })
}

fn host() -> impl Strategy<Value = Option<String>> {
    let label = prop_oneof![name(), Just(String::new()), Just("x.y".to_owned())];
    let domain = prop::sample::select(vec![
        ".example.com",
        ".EXAMPLE.com",
        "example.com",
        ".other.org",
        "",
        ".example.com.evil",
    ]);
    let dots = prop::sample::select(vec!["", "", ".", ".."]);
    prop::option::weighted(
        0.5,
        (label, domain, dots).prop_map(|(label, domain, dots)| format!("{label}{domain}{dots}")),
    )
    // An empty Host value is not a host; `http` itself takes it, the model has no case for it.
    .prop_filter("non-empty host", |host| host.as_deref() != Some(""))
}

fn path() -> impl Strategy<Value = String> {
    let segment = prop_oneof![
        3 => name(),
        2 => Just("t".to_owned()),
        1 => prop::sample::select(vec![".", "..", "%2e", "%2E", ".%2e", "%2E.", "%2e%2E", "", "tx"])
            .prop_map(str::to_owned),
    ];
    let segments = prop::collection::vec(segment, 0..5);
    let shape = prop_oneof![
        3 => segments.clone().prop_map(|s| format!("/{}", s.join("/"))),
        // The path source's own prefix first, so it is reached often.
        4 => (name(), segments).prop_map(|(slug, s)| format!("/t/{slug}/{}", s.join("/"))),
    ];
    (shape, prop::option::weighted(0.2, "[a-z=&]{0,8}")).prop_map(|(path, query)| match query {
        Some(query) => format!("{path}?{query}"),
        None => path,
    })
}

#[test]
fn generated_requests_resolve_as_the_documented_rules_say() {
    let header = prop::option::weighted(0.5, name());
    let rt = runtime();
    let resolved = Cell::new(0u32);
    runner()
        .run(
            &(order(), header, host(), path()),
            |(order, header, host, path)| {
                // Values `http` refuses never reach a server.
                let mut request = http::Request::get(path.as_str());
                if let Some(header) = &header {
                    request = request.header("x-tenant-id", header.as_str());
                }
                if let Some(host) = &host {
                    request = request.header("host", host.as_str());
                }
                let Ok(request) = request.body(()) else {
                    return Ok(());
                };
                let parts = request.into_parts().0;
                let resolver: TenantResolver<Registry, Anonymous> =
                    builder().order(order.clone()).anonymous();
                let (got, again) = rt.block_on(async {
                    let resolve = || async {
                        resolver
                            .resolve(&parts)
                            .await
                            .map(|ctx| ctx.tenant_id().to_string())
                            .map_err(|error| error.class().to_owned())
                    };
                    (resolve().await, resolve().await)
                });
                prop_assert_eq!(&got, &again, "not deterministic");
                prop_assert_eq!(
                    &got,
                    // The query is not part of the path the rules speak of.
                    &model(
                        &order,
                        header.as_deref(),
                        host.as_deref(),
                        path.split('?').next().unwrap()
                    )
                );
                resolved.set(resolved.get() + u32::from(got.is_ok()));
                Ok(())
            },
        )
        .unwrap();
    // The generator reaches the successful paths too, not only rejections.
    let resolved = resolved.get();
    assert!(resolved > cases() / 20, "only {resolved} resolved");
}

/// Bytes that matter to the parsers (separators, case, percent, quotes, whitespace) or any.
fn soup() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(
            prop::sample::select(b"acmeglobxz0129-._/:%AEZ @'\";#\\?[]".to_vec()),
            0..24
        ),
        prop::collection::vec(any::<u8>(), 0..24),
        name().prop_map(String::into_bytes),
    ]
}

#[derive(Debug, Clone)]
enum Target {
    Origin(Vec<u8>),
    /// `http://<authority>/<path>`.
    Absolute(Vec<u8>, Vec<u8>),
}

fn target() -> impl Strategy<Value = Target> {
    prop_oneof![
        soup().prop_map(|path| Target::Origin([b"/t/".as_slice(), &path].concat())),
        soup().prop_map(|path| Target::Origin([b"/".as_slice(), &path].concat())),
        (soup(), soup()).prop_map(|(authority, path)| Target::Absolute(authority, path)),
        (name(), soup()).prop_map(|(slug, path)| Target::Absolute(
            format!("{slug}.example.com:8080").into_bytes(),
            path
        )),
    ]
}

fn headers() -> impl Strategy<Value = Vec<(&'static str, Vec<u8>)>> {
    let header = (
        prop::sample::select(vec!["x-tenant-id", "host", "X-Tenant-Id"]),
        prop_oneof![
            soup(),
            (
                name(),
                prop::sample::select(vec!["", ".example.com", ".example.com:443"])
            )
                .prop_map(|(label, domain)| format!("{label}{domain}").into_bytes()),
        ],
    );
    prop::collection::vec(header, 0..4)
}

#[test]
fn arbitrary_bytes_in_every_source_give_typed_errors_never_a_panic() {
    let resolver = resolver();
    let rt = runtime();
    let reached = Cell::new(0u32);
    runner()
        .run(&(target(), headers()), |(target, headers)| {
            let uri = match &target {
                Target::Origin(path) => path.clone(),
                Target::Absolute(authority, path) => {
                    [b"http://".as_slice(), authority, b"/", path].concat()
                }
            };
            let mut request = http::Request::builder().uri(uri.as_slice());
            for (name, value) in &headers {
                request = request.header(*name, value.as_slice());
            }
            let Ok(request) = request.body(()) else {
                return Ok(());
            };
            reached.set(reached.get() + 1);
            let parts = request.into_parts().0;
            match rt.block_on(resolver.resolve(&parts)) {
                Ok(ctx) => {
                    // Only an available tenant, and only one the request names itself.
                    let id = ctx.tenant_id().as_str();
                    prop_assert!(["acme", "globex"].contains(&id), "{id}");
                    let named = if id == "acme" { "acme" } else { "globex" };
                    let mut bytes = uri.clone();
                    headers.iter().for_each(|(_, value)| bytes.extend(value));
                    let text = String::from_utf8_lossy(&bytes).to_ascii_lowercase();
                    prop_assert!(text.contains(named), "{id} from {text:?}");
                }
                Err(error) => {
                    prop_assert!(
                        matches!(
                            (error.status(), error.class()),
                            (400, "malformed-tenant")
                                | (400, "missing-tenant")
                                | (404, "tenant-unavailable")
                                | (400, "conflicting-tenant")
                        ),
                        "{error:?}: {} {}",
                        error.status(),
                        error.class()
                    );
                }
            }
            Ok(())
        })
        .unwrap();
    let reached = reached.get();
    assert!(
        reached > cases() / 3,
        "only {reached} requests reached the resolver"
    );
}
