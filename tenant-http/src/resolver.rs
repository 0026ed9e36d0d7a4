//! [`TenantResolver`]: the one place a request becomes a [`TenantCtx`].

use std::future::Future;

use http::request::Parts;

use tenant_core::{AUDIT_TARGET, TenancyConfig, Tenant, TenantCtx, TenantId, TenantRegistry};

use crate::{ResolveError, Source};

/// The request header that carries a tenant id.
pub const TENANT_HEADER: &str = "x-tenant-id";

/// The path prefix whose next segment is a tenant slug: `/t/{slug}/...`.
pub const PATH_PREFIX: &str = "/t/";

/// A user the application authenticated, with their roles in the resolved tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticatedUser {
    /// The user's id.
    pub user_id: String,
    /// The user's roles within the tenant.
    pub roles: Vec<String>,
}

/// The application's authentication, asked once per request after the tenant is known. It
/// returns the user acting in the request (`None` for anonymous requests the application allows)
/// or [`ResolveError::NotMember`] when the user does not belong to `tenant`.
pub trait UserHook: Send + Sync {
    /// The authenticated user of the request, checked for membership of `tenant`.
    fn user(
        &self,
        parts: &Parts,
        tenant: &Tenant,
    ) -> impl Future<Output = Result<Option<AuthenticatedUser>, ResolveError>> + Send;
}

/// No authentication: contexts carry no user.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoUsers;

impl UserHook for NoUsers {
    async fn user(&self, _: &Parts, _: &Tenant) -> Result<Option<AuthenticatedUser>, ResolveError> {
        Ok(None)
    }
}

/// Turns a request into a [`TenantCtx`], in one documented, deterministic order.
///
/// 1. In single-tenant mode (`MULTI_TENANCY_ENABLED=false`) the tenant is `DEFAULT_TENANT_ID`;
///    a request that names any other tenant is rejected as not allowed.
/// 2. Otherwise every configured source is read, in the configured order (default: the
///    `X-Tenant-ID` header, then the subdomain of the base domain, then the `/t/{slug}/` path
///    segment). A malformed source is an error; each named tenant is looked up (the header by
///    id, the others by slug); an unknown one is an error; two sources that name different
///    tenants are [`ResolveError::Conflicting`], never a pick. Errors are reported for the
///    first source, in order, that has one.
/// 3. No source at all is [`ResolveError::Missing`].
/// 4. The tenant must be active, then on the allow-list, then the [`UserHook`] must accept
///    the user.
///
/// Every resolution and rejection is an audit event on [`AUDIT_TARGET`]: a resolution names the
/// tenant, a rejection only its class and source.
///
/// ```
/// # use std::time::SystemTime;
/// use tenant::http::{ResolveError, TenantResolver};
/// use tenant::TenancyConfig;
/// use tenant::{Plan, Tenant, TenantId, TenantRegistry};
///
/// struct OneTenant(Tenant);
/// impl TenantRegistry for OneTenant {
///     type Error = std::convert::Infallible;
///
///     async fn find_by_id(&self, id: &TenantId) -> Result<Option<Tenant>, Self::Error> {
///         Ok((self.0.id == *id).then(|| self.0.clone()))
///     }
///     async fn find_by_slug(&self, slug: &TenantId) -> Result<Option<Tenant>, Self::Error> {
///         Ok((self.0.slug == *slug).then(|| self.0.clone()))
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let acme = Tenant {
///     id: "acme".parse()?, slug: "acme".parse()?, name: "Acme".into(), plan: Plan::Pro,
///     schema_name: "tenant_acme".parse()?, is_active: true,
///     created_at: SystemTime::now(), updated_at: SystemTime::now(),
/// };
/// let resolver = TenantResolver::new(OneTenant(acme), TenancyConfig::default())
///     .base_domain("example.com");
///
/// let request = http::Request::get("/t/acme/invoices").header("host", "acme.example.com").body(())?;
/// let ctx = resolver.resolve(&request.into_parts().0).await?;
/// assert_eq!(ctx.tenant_id().as_str(), "acme");
///
/// let request = http::Request::get("/invoices").header("x-tenant-id", "ACME").body(())?;
/// let error = resolver.resolve(&request.into_parts().0).await.unwrap_err();
/// assert_eq!((error.status(), error.class()), (400, "malformed-tenant"));
/// # Ok(())
/// # }
/// ```
pub struct TenantResolver<R, U = NoUsers> {
    registry: R,
    config: TenancyConfig,
    order: Vec<Source>,
    base_domain: Option<String>,
    users: U,
}

impl<R: TenantRegistry> TenantResolver<R, NoUsers> {
    /// A resolver over `registry` with the default order (header, subdomain, path) and no
    /// subdomain resolution until [`base_domain`](Self::base_domain) is set.
    pub fn new(registry: R, config: TenancyConfig) -> Self {
        TenantResolver {
            registry,
            config,
            order: vec![Source::Header, Source::Subdomain, Source::Path],
            base_domain: None,
            users: NoUsers,
        }
    }
}

impl<R: TenantRegistry, U: UserHook> TenantResolver<R, U> {
    /// Reads only these sources, in this order. Duplicates are ignored.
    pub fn order(mut self, sources: impl IntoIterator<Item = Source>) -> Self {
        self.order.clear();
        for source in sources {
            if !self.order.contains(&source) {
                self.order.push(source);
            }
        }
        self
    }

    /// Resolves `{slug}.{domain}` hosts by slug. `domain` is compared case-insensitively.
    pub fn base_domain(mut self, domain: &str) -> Self {
        let domain = domain.trim().trim_matches('.').to_ascii_lowercase();
        self.base_domain = (!domain.is_empty()).then_some(domain);
        self
    }

    /// Authenticates users with `users`.
    pub fn users<V: UserHook>(self, users: V) -> TenantResolver<R, V> {
        TenantResolver {
            registry: self.registry,
            config: self.config,
            order: self.order,
            base_domain: self.base_domain,
            users,
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &TenancyConfig {
        &self.config
    }

    /// The tenant context of the request, or why there is none.
    pub async fn resolve(&self, parts: &Parts) -> Result<TenantCtx, ResolveError> {
        let resolved = self.resolve_unaudited(parts).await;
        match &resolved {
            Ok(ctx) => tracing::info!(
                target: AUDIT_TARGET,
                tenant_id = %ctx.tenant_id(),
                user_id = ctx.user_id(),
                "tenant resolved"
            ),
            Err(error) => tracing::warn!(
                target: AUDIT_TARGET,
                class = error.class(),
                status = error.status(),
                "tenant rejected"
            ),
        }
        resolved
    }

    async fn resolve_unaudited(&self, parts: &Parts) -> Result<TenantCtx, ResolveError> {
        let mut named: Vec<(Source, Tenant)> = Vec::with_capacity(self.order.len());
        for &source in &self.order {
            let Some(key) = self.named(source, parts)? else {
                continue;
            };
            let found = match source {
                Source::Header => self.registry.find_by_id(&key).await,
                Source::Subdomain | Source::Path => self.registry.find_by_slug(&key).await,
            };
            let tenant = found
                .map_err(|error| ResolveError::Registry(Box::new(error)))?
                .ok_or(ResolveError::Unknown(source))?;
            named.push((source, tenant));
        }
        if let Some((first_source, first)) = named.first()
            && let Some((other_source, _)) = named.iter().find(|(_, t)| t.id != first.id)
        {
            return Err(ResolveError::Conflicting(*first_source, *other_source));
        }

        let tenant = if self.config.multi_tenancy_enabled() {
            named.into_iter().next().ok_or(ResolveError::Missing)?.1
        } else {
            let default = self.config.default_tenant().ok_or(ResolveError::Missing)?;
            if named.iter().any(|(_, t)| t.id != *default) {
                return Err(ResolveError::NotAllowed);
            }
            self.registry
                .find_by_id(default)
                .await
                .map_err(|error| ResolveError::Registry(Box::new(error)))?
                .ok_or(ResolveError::Unknown(Source::Header))?
        };

        if !tenant.is_active {
            return Err(ResolveError::Inactive);
        }
        if !self.config.is_allowed(&tenant.id) {
            return Err(ResolveError::NotAllowed);
        }
        // The registry vouched for the tenant (exists, active, allowed): schema and plan come
        // from its record, never from the request.
        let ctx = TenantCtx::trusted(
            tenant.id.clone(),
            tenant.schema_name.clone(),
            tenant.plan.clone(),
        );
        Ok(match self.users.user(parts, &tenant).await? {
            Some(user) => ctx.with_user(user.user_id, user.roles),
            None => ctx,
        })
    }

    /// The tenant id or slug `source` names, if it names one.
    fn named(&self, source: Source, parts: &Parts) -> Result<Option<TenantId>, ResolveError> {
        let malformed = || ResolveError::Malformed(source);
        let text = match source {
            Source::Header => {
                let mut values = parts.headers.get_all(TENANT_HEADER).iter();
                let (Some(value), None) = (values.next(), values.next()) else {
                    // None at all, or the header twice (a proxy and a client disagreeing).
                    return match parts.headers.contains_key(TENANT_HEADER) {
                        true => Err(malformed()),
                        false => Ok(None),
                    };
                };
                value.to_str().map_err(|_| malformed())?.to_owned()
            }
            Source::Subdomain => {
                let Some(base) = &self.base_domain else {
                    return Ok(None);
                };
                let mut hosts = parts.headers.get_all(http::header::HOST).iter();
                let host = match (hosts.next(), hosts.next()) {
                    (Some(host), None) => host.to_str().map_err(|_| malformed())?.to_owned(),
                    (Some(_), Some(_)) => return Err(malformed()),
                    (None, _) => match parts.uri.host() {
                        Some(host) => host.to_owned(),
                        None => return Ok(None),
                    },
                };
                let host = host.to_ascii_lowercase();
                let host = strip_port(&host).trim_end_matches('.');
                let Some(label) = host
                    .strip_suffix(base.as_str())
                    .and_then(|rest| rest.strip_suffix('.'))
                else {
                    // The base domain itself, or another host: no tenant named here.
                    return Ok(None);
                };
                if label.contains('.') {
                    return Err(malformed());
                }
                label.to_owned()
            }
            Source::Path => {
                let Some(rest) = parts.uri.path().strip_prefix(PATH_PREFIX) else {
                    return Ok(None);
                };
                rest.split('/').next().unwrap_or_default().to_owned()
            }
        };
        text.parse().map(Some).map_err(|_| malformed())
    }
}

/// `host` without a trailing `:port` (IPv6 literals keep their brackets).
fn strip_port(host: &str) -> &str {
    match host.rfind(':') {
        Some(colon) if !host[colon..].contains(']') => &host[..colon],
        _ => host,
    }
}
