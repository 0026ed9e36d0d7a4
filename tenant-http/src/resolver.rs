//! [`TenantResolver`]: the one place a request becomes a [`TenantCtx`].

use http::request::Parts;
use http::uri::Authority;

use tenant_core::{
    AUDIT_TARGET, ClaimError, Plan, Resolved, SchemaName, TenancyConfig, Tenant, TenantClaim,
    TenantCtx, TenantId, TenantRegistry,
};

use crate::users::{self, Anonymous, UserHook};
use crate::{ResolveError, Source};

/// The request header that carries a tenant id.
pub const TENANT_HEADER: &str = "x-tenant-id";

/// The path prefix whose next segment is a tenant slug: `/t/{slug}/...`.
pub const PATH_PREFIX: &str = "/t/";

/// Turns a request into a [`TenantCtx`], in one documented, deterministic order.
///
/// Built in two steps: [`TenantResolver::new`] gives a [`TenantResolverBuilder`], which resolves
/// nothing until the application says how it authenticates, with
/// [`users(hook)`](TenantResolverBuilder::users) or, deliberately,
/// [`anonymous()`](TenantResolverBuilder::anonymous). Only the finished resolver has
/// [`resolve`](Self::resolve) (and, with feature `axum`, `shared`), so a resolver that
/// silently authenticates nobody does not compile.
///
/// 1. Every configured source is read, in the configured order (default: the `X-Tenant-ID`
///    header, then the subdomain of the base domain, then the `/t/{slug}/` path segment). A
///    malformed source is [`ResolveError::Malformed`]; each named tenant is looked up (the
///    header by id, the others by slug) and must be available: registered, active, on the
///    allow-list and, in single-tenant mode (`MULTI_TENANCY_ENABLED=false`), the
///    `DEFAULT_TENANT_ID`. Errors are reported for the first source, in order, that has one.
/// 2. Two sources that name different tenants are [`ResolveError::Conflicting`], never a pick.
/// 3. No source at all is [`ResolveError::Missing`], except in single-tenant mode, where the
///    tenant is the default one (which must be available too).
/// 4. The [`UserHook`] is asked about the tenant. The user it returns is attached to the
///    context by the registry's verification ([`TenantClaim::verify_request`]); its error is
///    the answer; no user is [`ResolveError::Unauthenticated`] (`401`), except in
///    [`resolve_any_caller`](Self::resolve_any_caller) and with
///    [`anonymous`](TenantResolverBuilder::anonymous), whose contexts never carry a user.
///
/// A tenant that is not available is answered with [`ResolveError::Unavailable`] (one status,
/// one problem body, whether it is unknown, inactive or not allowed, and whichever source named
/// it), unless the user hook vouches for the caller as a member of that tenant, who is told
/// [`ResolveError::Inactive`] or [`ResolveError::NotAllowed`]. An unauthenticated caller cannot
/// tell an unknown tenant from a deactivated or disallowed one, by the answer or by the work
/// done for it: each costs the same registry lookups and one question to the user hook. See
/// [`ResolveError`].
///
/// What counts as malformed, where a proxy in front of the service could read the request
/// differently:
/// - the header twice, or a value that is not a tenant id;
/// - the host: a `Host` header twice, a `Host` that differs from the authority of an
///   absolute-form request target (or of HTTP/2's `:authority`; RFC 9112 §3.2.2, RFC 9113
///   §8.3.1), a host name with an empty label (`acme..example.com`, or more than one trailing
///   dot), or a label under the base domain that is not a slug or is more than one label.
///   One trailing dot is the absolute form of the same name and is accepted:
///   `acme.example.com.` is `acme`;
/// - the path: any dot segment anywhere in it (`.` or `..`, also written `%2e`/`%2E`, also
///   followed by `;parameters`), or a path that names a tenant differently once repeated `/`
///   are merged (`//t/acme/`), as normalising proxies do.
///
/// Every resolution and rejection is an audit event on [`AUDIT_TARGET`]: a resolution names the
/// tenant; a rejection only its precise class (`class`, e.g. `inactive-tenant`), the class it
/// was answered with (`answer`, e.g. `tenant-unavailable`) and the status.
///
/// ```
/// use tenant::http::{ResolveError, TenantResolver};
/// use tenant::registry::InMemoryRegistry;
/// use tenant::TenancyConfig;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let registry = InMemoryRegistry::from_ids(["acme".parse()?, "globex".parse()?])?;
/// let config = TenancyConfig::default().with_allowed(["acme".parse()?]);
/// // This service has no users: every request is anonymous, by choice.
/// let resolver = TenantResolver::new(registry, config)
///     .base_domain("example.com")
///     .anonymous();
///
/// let request = http::Request::get("/t/acme/invoices").header("host", "acme.example.com").body(())?;
/// let ctx = resolver.resolve(&request.into_parts().0).await?;
/// assert_eq!(ctx.tenant_id().as_str(), "acme");
///
/// let request = http::Request::get("/invoices").header("x-tenant-id", "ACME").body(())?;
/// let error = resolver.resolve(&request.into_parts().0).await.unwrap_err();
/// assert_eq!((error.status(), error.class()), (400, "malformed-tenant"));
///
/// // globex exists but is not allowed here; nobody does not exist: the same answer.
/// for tenant in ["globex", "nobody"] {
///     let request = http::Request::get("/invoices").header("x-tenant-id", tenant).body(())?;
///     let error = resolver.resolve(&request.into_parts().0).await.unwrap_err();
///     assert!(matches!(error, ResolveError::Unavailable));
///     assert_eq!((error.status(), error.class()), (404, "tenant-unavailable"));
/// }
/// # Ok(())
/// # }
/// ```
pub struct TenantResolver<R, U> {
    registry: R,
    config: TenancyConfig,
    order: Vec<Source>,
    base_domain: Option<String>,
    users: U,
    /// Whether a request without a user is refused: false only for `.anonymous()`.
    authenticates: bool,
}

/// A [`TenantResolver`] being configured. It resolves nothing: finish it with
/// [`users`](Self::users) (the application's authentication) or [`anonymous`](Self::anonymous)
/// (a deliberate "no authentication").
///
/// ```
/// use tenant::http::{Source, TenantResolver};
/// use tenant::registry::InMemoryRegistry;
/// use tenant::TenancyConfig;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let registry = InMemoryRegistry::from_ids(["acme".parse()?])?;
/// let resolver = TenantResolver::new(registry, TenancyConfig::default())
///     .order([Source::Path, Source::Header])
///     .base_domain("example.com") // unused: the subdomain is not in the order
///     .anonymous();
/// assert!(resolver.config().multi_tenancy_enabled());
/// # Ok(())
/// # }
/// ```
#[must_use = "a resolver builder resolves nothing: finish it with `.users(hook)` or `.anonymous()`"]
pub struct TenantResolverBuilder<R> {
    registry: R,
    config: TenancyConfig,
    order: Vec<Source>,
    base_domain: Option<String>,
}

/// `new` is declared for `U = ()` only so that `TenantResolver::new(..)` needs no annotation: it
/// returns a builder, never a resolver, and `()` is no [`UserHook`].
impl<R: TenantRegistry> TenantResolver<R, ()> {
    /// A builder of a resolver over `registry`, with the default order (header, subdomain,
    /// path) and no subdomain resolution until
    /// [`base_domain`](TenantResolverBuilder::base_domain) is set. It resolves nothing until
    /// [`users`](TenantResolverBuilder::users) or [`anonymous`](TenantResolverBuilder::anonymous)
    /// finishes it; see [`TenantResolver`] for an example.
    #[expect(
        clippy::new_ret_no_self,
        reason = "the builder is the only way to a resolver: the user choice cannot be skipped"
    )]
    pub fn new(registry: R, config: TenancyConfig) -> TenantResolverBuilder<R> {
        TenantResolverBuilder {
            registry,
            config,
            order: vec![Source::Header, Source::Subdomain, Source::Path],
            base_domain: None,
        }
    }
}

impl<R: TenantRegistry> TenantResolverBuilder<R> {
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

    /// The resolver, authenticating users with `users`: a request for which the hook finds no
    /// user gets no context ([`ResolveError::Unauthenticated`], `401`) unless the route takes
    /// any caller ([`TenantResolver::resolve_any_caller`], axum's `AnyCaller`). See
    /// [`UserHook`], which has an example.
    pub fn users<U: UserHook>(self, users: U) -> TenantResolver<R, U> {
        TenantResolver {
            registry: self.registry,
            config: self.config,
            order: self.order,
            base_domain: self.base_domain,
            users,
            authenticates: true,
        }
    }

    /// The resolver, authenticating nobody: a deliberate choice for services without users (or
    /// that authenticate elsewhere, after the tenant is known). Its contexts carry no user, and
    /// a tenant that is unknown, inactive or not allowed always gets the one answer
    /// [`ResolveError::Unavailable`]. See [`TenantResolver`] for an example.
    pub fn anonymous(self) -> TenantResolver<R, Anonymous> {
        TenantResolver {
            authenticates: false,
            ..self.users(users::anonymous())
        }
    }
}

/// A rejection as the audit sees it: the precise cause, and whether the caller is told only
/// [`ResolveError::Unavailable`].
struct Rejection {
    cause: ResolveError,
    concealed: bool,
}

impl From<ResolveError> for Rejection {
    fn from(cause: ResolveError) -> Self {
        Rejection {
            cause,
            concealed: false,
        }
    }
}

impl<R: TenantRegistry, U: UserHook> TenantResolver<R, U> {
    /// The configuration in force.
    pub fn config(&self) -> &TenancyConfig {
        &self.config
    }

    /// The tenant context of the request, or why there is none (as much of why as the caller
    /// may learn: see [`ResolveError`]). With a user hook, a request without an authenticated
    /// user is [`ResolveError::Unauthenticated`]; with [`anonymous`](TenantResolverBuilder::anonymous),
    /// no context carries a user.
    pub async fn resolve(&self, parts: &Parts) -> Result<TenantCtx, ResolveError> {
        self.verified(parts, false).await.map(Resolved::into_ctx)
    }

    /// As [`resolve`](Self::resolve), for a request that may come without an authenticated
    /// user: the context carries the user when the hook found one, and none otherwise. For
    /// routes that serve anyone, on purpose (a sign-in page, a public price list); everything
    /// else takes [`resolve`](Self::resolve). See [`UserHook`] for an example.
    pub async fn resolve_any_caller(&self, parts: &Parts) -> Result<TenantCtx, ResolveError> {
        self.verified(parts, true).await.map(Resolved::into_ctx)
    }

    /// The request's verified context (`any_caller`: also without an authenticated user), and
    /// its audit event.
    pub(crate) async fn verified(
        &self,
        parts: &Parts,
        any_caller: bool,
    ) -> Result<Resolved, ResolveError> {
        match self.resolve_unaudited(parts, any_caller).await {
            Ok(resolved) => {
                let ctx = resolved.ctx();
                tracing::info!(
                    target: AUDIT_TARGET,
                    tenant_id = %ctx.tenant_id(),
                    user_id = ctx.user_id(),
                    "tenant resolved"
                );
                Ok(resolved)
            }
            Err(Rejection { cause, concealed }) => {
                let class = cause.class();
                let answer = match concealed {
                    true => ResolveError::Unavailable,
                    false => cause,
                };
                tracing::warn!(
                    target: AUDIT_TARGET,
                    class,
                    answer = answer.class(),
                    status = answer.status(),
                    "tenant rejected"
                );
                Err(answer)
            }
        }
    }

    /// The user hook's answer for the rejection's response, as [`UserHook::challenge`]. Only the
    /// axum integration writes responses.
    #[cfg(feature = "axum")]
    pub(crate) fn challenge(&self) -> Option<http::HeaderValue> {
        self.users.challenge()
    }

    async fn resolve_unaudited(
        &self,
        parts: &Parts,
        any_caller: bool,
    ) -> Result<Resolved, Rejection> {
        let mut named: Vec<(Source, Tenant)> = Vec::with_capacity(self.order.len());
        for &source in &self.order {
            let Some(key) = self.named(source, parts)? else {
                continue;
            };
            let found = match source {
                Source::Header => self.registry.find_by_id(&key).await,
                Source::Subdomain | Source::Path => self.registry.find_by_slug(&key).await,
            };
            let tenant = self.available(parts, &key, found, source).await?;
            named.push((source, tenant));
        }
        // Only available tenants get here: a conflict tells the caller nothing it could not
        // learn by naming each tenant on its own.
        if let Some((first_source, first)) = named.first()
            && let Some((other_source, _)) = named.iter().find(|(_, t)| t.id != first.id)
        {
            return Err(ResolveError::Conflicting(*first_source, *other_source).into());
        }

        let tenant = match named.into_iter().next() {
            Some((_, tenant)) => tenant,
            None if self.config.multi_tenancy_enabled() => return Err(ResolveError::Missing.into()),
            None => {
                let default = self.config.default_tenant().ok_or(ResolveError::Missing)?;
                let found = self.registry.find_by_id(default).await;
                self.available(parts, default, found, Source::Header)
                    .await?
            }
        };

        // The one path from a name to a context, as for activity inputs and events: the claim of
        // the tenant found above, verified by the registry, whose record gives schema and plan
        // (never the request), and which attaches the hook's user. A tenant that changed since
        // the lookup above is refused here.
        let user = self.users.user(parts, &tenant).await?;
        if user.is_none() && self.authenticates && !any_caller {
            return Err(ResolveError::Unauthenticated.into());
        }
        let claim = TenantClaim::new(tenant.id.clone());
        let resolved = claim
            .verify_request(&self.registry, &self.config, user)
            .await
            .map_err(|error| match error {
                ClaimError::Registry(source) => ResolveError::from_registry(source),
                _ => ResolveError::Unavailable,
            })?;
        Ok(resolved)
    }

    /// The tenant the registry `found` for `key` (named by `source`), if it is available here.
    /// Why it is not is concealed unless the user hook vouches for the caller as one of its
    /// members. Unknown, inactive and disallowed tenants take the same steps (one lookup, one
    /// question to the hook), so that how long a refusal takes does not tell them apart.
    async fn available<E>(
        &self,
        parts: &Parts,
        key: &TenantId,
        found: Result<Option<Tenant>, E>,
        source: Source,
    ) -> Result<Tenant, Rejection>
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        let found = found.map_err(|error| ResolveError::from_registry(Box::new(error)))?;
        let Some(tenant) = found else {
            // Nobody is a member of a tenant that does not exist: the hook's answer is not used.
            if let Some(stand_in) = stand_in(key) {
                let _ = self.users.user(parts, &stand_in).await;
            }
            return Err(Rejection {
                cause: ResolveError::Unknown(source),
                concealed: true,
            });
        };
        let refused = if !tenant.is_active {
            ResolveError::Inactive
        } else if !self.config.is_allowed(&tenant.id)
            || (!self.config.multi_tenancy_enabled()
                && self.config.default_tenant() != Some(&tenant.id))
        {
            ResolveError::NotAllowed
        } else {
            return Ok(tenant);
        };
        let member = matches!(self.users.user(parts, &tenant).await, Ok(Some(_)));
        Err(Rejection {
            cause: refused,
            concealed: !member,
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
                let Some(host) = request_host(parts).ok_or_else(malformed)? else {
                    return Ok(None);
                };
                let host = host.to_ascii_lowercase();
                // One trailing dot is the absolute form of the same name; more than one, or
                // any other empty label, is not a host name.
                let name = host.strip_suffix('.').unwrap_or(&host);
                if name.split('.').any(str::is_empty) {
                    return Err(malformed());
                }
                let Some(label) = name
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
                let path = parts.uri.path();
                // A proxy that normalises the path would route `/t/acme/../globex/` to globex,
                // and one that merges slashes would route `//t/globex/` to globex.
                if path.split('/').any(is_dot_segment) {
                    return Err(malformed());
                }
                let slug = tenant_segment(path);
                if path.contains("//") && tenant_segment(&merge_slashes(path)) != slug {
                    return Err(malformed());
                }
                let Some(slug) = slug else {
                    return Ok(None);
                };
                slug.to_owned()
            }
        };
        text.parse().map(Some).map_err(|_| malformed())
    }
}

/// What the user hook is asked about when the registry knows no tenant by `key`: see
/// [`UserHook`]. Nothing reads it but the hook, whose answer is not used. Its schema is
/// `tenant_` and the key with `-` as `_`, cut to [`SchemaName::MAX_LEN`]: always a schema name
/// (a letter first, then `[a-z0-9_]`, never a reserved word), so `None` does not happen.
fn stand_in(key: &TenantId) -> Option<Tenant> {
    let mut schema_name = format!("tenant_{}", key.as_str().replace('-', "_"));
    schema_name.truncate(SchemaName::MAX_LEN);
    Some(Tenant {
        id: key.clone(),
        slug: key.clone(),
        name: String::new(),
        plan: Plan::Free,
        schema_name: schema_name.parse().ok()?,
        is_active: false,
        limits: None,
        placement: Default::default(),
        created_at: std::time::SystemTime::UNIX_EPOCH,
        updated_at: std::time::SystemTime::UNIX_EPOCH,
    })
}

/// The host the request targets, without its port: the authority of an absolute-form target
/// (HTTP/1.1) or `:authority` (HTTP/2) when there is one, else the `Host` header. `None` inside
/// when neither names a host; `None` outside when they are malformed or disagree.
fn request_host(parts: &Parts) -> Option<Option<String>> {
    let mut hosts = parts.headers.get_all(http::header::HOST).iter();
    let header = match (hosts.next(), hosts.next()) {
        (Some(_), Some(_)) => return None,
        (Some(value), None) => match value.to_str().ok()? {
            "" => None,
            text if text.contains('@') => return None,
            text => Some(text.parse::<Authority>().ok()?),
        },
        (None, _) => None,
    };
    let Some(target) = parts.uri.authority() else {
        return Some(header.map(|host| host.host().to_owned()));
    };
    // RFC 9112 §3.2.2: the target's authority wins and Host is to be ignored; a Host naming
    // another one is a client or proxy disagreeing with the target, so it is refused instead.
    let default_port = match parts.uri.scheme_str() {
        Some(scheme) if scheme.eq_ignore_ascii_case("https") => Some(443),
        Some(scheme) if scheme.eq_ignore_ascii_case("http") => Some(80),
        _ => None,
    };
    let port = |authority: &Authority| authority.port_u16().or(default_port);
    if let Some(header) = &header
        && !(header.host().eq_ignore_ascii_case(target.host()) && port(header) == port(target))
    {
        return None;
    }
    Some(Some(target.host().to_owned()))
}

/// Whether a path segment is `.` or `..`, dots written as `.`, `%2e` or `%2E`, ignoring any
/// `;parameters` (which some servers strip before normalising).
fn is_dot_segment(segment: &str) -> bool {
    let mut rest = segment.split(';').next().unwrap_or_default();
    let mut dots = 0;
    while !rest.is_empty() {
        rest = if let Some(after) = rest.strip_prefix('.') {
            after
        } else if rest
            .as_bytes()
            .get(..3)
            .is_some_and(|unit| unit.eq_ignore_ascii_case(b"%2e"))
        {
            // The first three bytes are ASCII, so byte 3 is a character boundary.
            &rest[3..]
        } else {
            return false;
        };
        dots += 1;
    }
    matches!(dots, 1 | 2)
}

/// The segment after [`PATH_PREFIX`], if `path` starts with it.
fn tenant_segment(path: &str) -> Option<&str> {
    let rest = path.strip_prefix(PATH_PREFIX)?;
    rest.split('/').next()
}

/// `path` with every run of `/` merged into one.
fn merge_slashes(path: &str) -> String {
    let mut merged = String::with_capacity(path.len());
    for c in path.chars() {
        if !(c == '/' && merged.ends_with('/')) {
            merged.push(c);
        }
    }
    merged
}
