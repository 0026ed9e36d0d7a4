//! The application's side of authentication: the [`UserHook`] a resolver asks, the deliberate
//! [`Anonymous`] choice, and the [`Member`] a handler that needs a user takes.

use std::future::Future;

use http::request::Parts;

use tenant_core::{AuthenticatedUser, Tenant, TenantCtx};

use crate::ResolveError;

/// The application's authentication, given to a resolver with
/// [`TenantResolverBuilder::users`](crate::TenantResolverBuilder::users). It is asked once per request that names a tenant, after the
/// registry looked the tenant up, and answers:
///
/// - `Ok(Some(user))`: `user` is authenticated and a member of `tenant`. The context carries
///   them (attached by [`TenantClaim::verify_request`](tenant_core::TenantClaim::verify_request), the one place a context gets a user),
///   and if the tenant is refused (inactive, not allowed) they are told why.
/// - `Ok(None)`: the request has no authenticated user. It gets no context:
///   [`TenantResolver::resolve`](crate::TenantResolver::resolve) (and axum's `TenantCtx` and [`Member`] extractors) answer
///   [`ResolveError::Unauthenticated`] (`401`), unless the route takes callers without a user
///   on purpose ([`TenantResolver::resolve_any_caller`](crate::TenantResolver::resolve_any_caller), axum's `AnyCaller`). If the tenant is
///   refused, the caller gets [`ResolveError::Unavailable`], the answer an unknown tenant gets.
/// - `Err(ResolveError::NotMember)`: the user is authenticated but not a member of `tenant`.
///   This tells the caller that `tenant` exists and is available; a hook that wants
///   non-members not to learn even that returns [`ResolveError::Unavailable`] instead.
///
/// A refused tenant is shown to the hook only to decide whether the caller may learn why:
/// unless the hook returns a user, the answer is [`ResolveError::Unavailable`], whatever error
/// the hook returned. A tenant the registry does not know is asked about too, so that it costs
/// the resolver the same work as a refused one: `tenant` is then a stand-in (`is_active: false`,
/// the id or slug the request named as both `id` and `slug`, an empty `name`), and the answer is
/// [`ResolveError::Unavailable`] whatever the hook says (nobody is a member of a tenant that does
/// not exist). Decide from the request's credentials and `tenant.id`, at the same cost for every
/// tenant. Return `Ok(None)`, never an error, for a request without credentials.
///
/// ```
/// use http::request::Parts;
/// use tenant::http::{AuthenticatedUser, ResolveError, TenantResolver, UserHook};
/// use tenant::registry::InMemoryRegistry;
/// use tenant::{TenancyConfig, Tenant};
///
/// /// `X-User: alice` is a member of acme (a stand-in for real session checks).
/// struct Sessions;
///
/// impl UserHook for Sessions {
///     async fn user(
///         &self,
///         parts: &Parts,
///         tenant: &Tenant,
///     ) -> Result<Option<AuthenticatedUser>, ResolveError> {
///         let Some(user) = parts.headers.get("x-user") else {
///             return Ok(None); // no credentials: anonymous, never an error
///         };
///         match (user.to_str(), tenant.id.as_str()) {
///             (Ok("alice"), "acme") => Ok(Some(AuthenticatedUser {
///                 user_id: "alice".into(),
///                 roles: vec!["admin".into()],
///             })),
///             _ => Err(ResolveError::NotMember),
///         }
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let registry = InMemoryRegistry::from_ids(["acme".parse()?, "globex".parse()?])?;
/// let resolver = TenantResolver::new(registry, TenancyConfig::default()).users(Sessions);
///
/// let request = http::Request::get("/t/acme/").header("x-user", "alice").body(())?;
/// let ctx = resolver.resolve(&request.into_parts().0).await?;
/// assert_eq!(ctx.user_id(), Some("alice"));
///
/// let request = http::Request::get("/t/globex/").header("x-user", "alice").body(())?;
/// let error = resolver.resolve(&request.into_parts().0).await.unwrap_err();
/// assert!(matches!(error, ResolveError::NotMember));
///
/// // Without credentials: no context, unless the caller of `resolve_any_caller` takes that.
/// let request = http::Request::get("/t/acme/").body(())?;
/// let error = resolver.resolve(&request.into_parts().0).await.unwrap_err();
/// assert_eq!((error.status(), error.class()), (401, "unauthenticated"));
/// let request = http::Request::get("/t/acme/").body(())?;
/// let ctx = resolver.resolve_any_caller(&request.into_parts().0).await?;
/// assert_eq!(ctx.user_id(), None);
/// # Ok(())
/// # }
/// ```
pub trait UserHook: Send + Sync {
    /// The authenticated user of the request, checked for membership of `tenant`.
    fn user(
        &self,
        parts: &Parts,
        tenant: &Tenant,
    ) -> impl Future<Output = Result<Option<AuthenticatedUser>, ResolveError>> + Send;

    /// The `WWW-Authenticate` challenge a [`ResolveError::Unauthenticated`] response carries
    /// (RFC 9110 §11.6.1: a `401` names how to authenticate), such as `Bearer realm="api"`.
    /// `None` (the default) sends no challenge, for schemes HTTP has no name for (a login
    /// form's session cookie).
    ///
    /// ```
    /// # use http::request::Parts;
    /// # use tenant::http::{AuthenticatedUser, ResolveError, UserHook};
    /// # use tenant::Tenant;
    /// struct Tokens;
    ///
    /// impl UserHook for Tokens {
    ///     # async fn user(&self, _: &Parts, _: &Tenant) -> Result<Option<AuthenticatedUser>, ResolveError> { Ok(None) }
    ///     // ...
    ///     fn challenge(&self) -> Option<http::HeaderValue> {
    ///         Some(http::HeaderValue::from_static(r#"Bearer realm="invoices""#))
    ///     }
    /// }
    /// assert!(Tokens.challenge().is_some());
    /// ```
    fn challenge(&self) -> Option<http::HeaderValue> {
        None
    }
}

/// The user hook of a resolver that authenticates nobody: the deliberate choice made with
/// [`TenantResolverBuilder::anonymous`](crate::TenantResolverBuilder::anonymous), the only way to get one. Its contexts carry no user,
/// and every caller is unauthenticated, so a refused tenant is always answered with
/// [`ResolveError::Unavailable`].
#[derive(Debug, Clone, Copy)]
pub struct Anonymous(());

/// The one [`Anonymous`], for [`TenantResolverBuilder::anonymous`](crate::TenantResolverBuilder::anonymous).
/// A free function, not `Anonymous::new`: rustc would suggest an associated constructor to
/// whoever tries `Anonymous(())` by hand, and this one is not theirs to call.
pub(crate) fn anonymous() -> Anonymous {
    Anonymous(())
}

impl UserHook for Anonymous {
    async fn user(&self, _: &Parts, _: &Tenant) -> Result<Option<AuthenticatedUser>, ResolveError> {
        Ok(None)
    }
}

/// A tenant context that carries an authenticated member of its tenant: what a handler that
/// needs one takes (with feature `axum`, `Member` is an extractor). It exists only with a user:
/// made from a context the user hook's user was attached to, and refused
/// ([`ResolveError::Unauthenticated`]) from one without. It is the [`TenantCtx`] it wraps for
/// every tenant-owned call (`Deref`).
///
/// ```
/// use tenant::http::{Member, ResolveError, TenantResolver};
/// use tenant::registry::InMemoryRegistry;
/// use tenant::TenancyConfig;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let registry = InMemoryRegistry::from_ids(["acme".parse()?])?;
/// let resolver = TenantResolver::new(registry, TenancyConfig::default()).anonymous();
/// let request = http::Request::get("/t/acme/").body(())?;
/// let ctx = resolver.resolve(&request.into_parts().0).await?;
/// // An anonymous resolver's contexts have no user: no member in them.
/// let error = Member::try_from(ctx).unwrap_err();
/// assert!(matches!(error, ResolveError::Unauthenticated));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    ctx: TenantCtx,
    user_id: String,
}

impl Member {
    /// The member's user id.
    pub fn user_id(&self) -> &str {
        &self.user_id
    }

    /// The member's context.
    pub fn ctx(&self) -> &TenantCtx {
        &self.ctx
    }

    /// The member's context, for code that takes it by value.
    pub fn into_ctx(self) -> TenantCtx {
        self.ctx
    }
}

/// A context with a user is a member's; one without is [`ResolveError::Unauthenticated`].
impl TryFrom<TenantCtx> for Member {
    type Error = ResolveError;

    fn try_from(ctx: TenantCtx) -> Result<Self, ResolveError> {
        let user_id = ctx
            .user_id()
            .ok_or(ResolveError::Unauthenticated)?
            .to_owned();
        Ok(Member { ctx, user_id })
    }
}

impl std::ops::Deref for Member {
    type Target = TenantCtx;

    fn deref(&self) -> &TenantCtx {
        &self.ctx
    }
}
