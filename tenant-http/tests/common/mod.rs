//! What the resolver tests share: a registry of four tenants, the resolver of a service
//! without users, requests from their parts, and the documented rules written as a model.

// Each test binary uses its own part of this module.
#![allow(dead_code)]

use std::collections::HashMap;
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
pub(crate) struct Registry(pub(crate) HashMap<TenantId, Tenant>);

impl Registry {
    pub(crate) fn new() -> Self {
        let tenant = |id: &str, slug: &str, active: bool| Tenant {
            id: id.parse().unwrap(),
            slug: slug.parse().unwrap(),
            name: id.to_uppercase(),
            plan: Plan::Pro,
            schema_name: format!("tenant_{id}").parse().unwrap(),
            is_active: active,
            limits: None,
            placement: Default::default(),
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

pub(crate) fn allowed() -> TenancyConfig {
    TenancyConfig::default()
        .with_allowed(["acme", "globex", "dormant"].map(|id| id.parse().unwrap()))
}

pub(crate) fn builder() -> TenantResolverBuilder<Registry> {
    TenantResolver::new(Registry::new(), allowed()).base_domain("example.com")
}

/// The resolver of a service without users.
pub(crate) fn resolver() -> TenantResolver<Registry, Anonymous> {
    builder().anonymous()
}

/// A session cookie stand-in: `x-user: alice` is a member of acme only, `root` of every tenant;
/// a request without `x-user` has no user.
pub(crate) struct Members;

impl UserHook for Members {
    async fn user(
        &self,
        parts: &Parts,
        tenant: &Tenant,
    ) -> Result<Option<AuthenticatedUser>, ResolveError> {
        let Some(user) = parts.headers.get("x-user").and_then(|v| v.to_str().ok()) else {
            return Ok(None);
        };
        match (user, tenant.id.as_str()) {
            ("alice", "acme") | ("root", _) => Ok(Some(AuthenticatedUser {
                user_id: user.into(),
                roles: vec!["admin".into()],
            })),
            _ => Err(ResolveError::NotMember),
        }
    }
}

pub(crate) fn parts(header: Option<&str>, host: Option<&str>, path: &str) -> Parts {
    let mut request = http::Request::get(path);
    if let Some(header) = header {
        request = request.header("x-tenant-id", header);
    }
    if let Some(host) = host {
        request = request.header("host", host);
    }
    request.body(()).unwrap().into_parts().0
}

/// The documented rules, written independently of the resolver: what a request of an
/// unauthenticated caller should resolve to given what each source names.
pub(crate) fn model(
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
            Source::Path => {
                let slug = |path: &str| {
                    path.strip_prefix("/t/")
                        .map(|rest| rest.split('/').next().unwrap().to_owned())
                };
                let mut merged = path.to_owned();
                while merged.contains("//") {
                    merged = merged.replace("//", "/");
                }
                let dot = path.split('/').any(|segment| {
                    [".", "..", "%2e", "%2e%2e", ".%2e", "%2e."]
                        .contains(&segment.to_ascii_lowercase().as_str())
                });
                // A dot segment, or a slug that a proxy merging slashes would read differently.
                if dot || slug(path) != slug(&merged) {
                    Some(Err(()))
                } else {
                    slug(path).map(|slug| {
                        slug.parse::<TenantId>()
                            .map_err(|_| ())
                            .map(|slug| by_slug(slug.as_str()))
                    })
                }
            }
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
