//! What the request boundary verifies: a request's tenant and, when the application
//! authenticates, its user. The user and roles of a [`TenantCtx`] are attached here and nowhere
//! else, by [`TenantClaim::verify_request`], with the answer of the application's user hook.

use crate::{ClaimError, TenancyConfig, TenantClaim, TenantCtx, TenantRegistry};

/// A user the application authenticated, with their roles in the tenant the request names: what
/// an application's user hook answers (`tenant-http`'s `UserHook`), and what
/// [`TenantClaim::verify_request`] attaches to the context it mints.
///
/// Building one vouches for nothing: only a verification attaches it to a context, and code that
/// holds a context cannot (there is no `TenantCtx::with_user`).
///
/// ```
/// use tenant::AuthenticatedUser;
///
/// let user = AuthenticatedUser { user_id: "u-42".into(), roles: vec!["admin".into()] };
/// assert_eq!(user.roles, ["admin"]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticatedUser {
    /// The user's id.
    pub user_id: String,
    /// The user's roles within the tenant.
    pub roles: Vec<String>,
}

/// A request's tenant context, fresh from the registry's verification of that request: what a
/// resolver shared with axum answers each request with.
///
/// Only [`TenantClaim::verify_request`] makes one, and it is not `Clone`: a resolver cannot
/// answer a request with a context it held from before (a fixed, cloned or cached one) and skip
/// the registry and the user hook. Take the context out with [`into_ctx`](Self::into_ctx).
///
/// ```
/// use tenant::{InMemoryRegistry, TenancyConfig, TenantClaim};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let registry = InMemoryRegistry::from_ids(["acme".parse()?])?;
/// let claim = TenantClaim::new("acme".parse()?);
/// let resolved = claim.verify_request(&registry, &TenancyConfig::default(), None).await?;
/// assert_eq!(resolved.ctx().user_id(), None);
/// assert_eq!(resolved.into_ctx().tenant_id().as_str(), "acme");
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
#[must_use = "a resolved request is its tenant context: hand it on with `into_ctx`"]
pub struct Resolved(TenantCtx);

impl Resolved {
    /// The verified context.
    pub fn ctx(&self) -> &TenantCtx {
        &self.0
    }

    /// The verified context, to hand to the request's handler.
    pub fn into_ctx(self) -> TenantCtx {
        self.0
    }
}

impl TenantClaim {
    /// The context of a request's claimed tenant, for `user`: [`verify`](Self::verify) (the
    /// registry vouches for the tenant, and gives schema and plan), then the user the
    /// application's user hook authenticated as a member of that tenant, or none when the
    /// request has no user (the resolver decides whether that is acceptable).
    ///
    /// This is the one place a context gets a user and roles. It is the request boundary's
    /// verification (`tenant-http`'s `TenantResolver` calls it), and like every verification it
    /// is listed by the authority inventory: the user it attaches is whoever `user` says.
    ///
    /// ```
    /// use tenant::{AuthenticatedUser, InMemoryRegistry, TenancyConfig, TenantClaim};
    /// use tenant::claim::ClaimError;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let registry = InMemoryRegistry::from_ids(["acme".parse()?])?;
    /// let config = TenancyConfig::default();
    /// let user = AuthenticatedUser { user_id: "u-42".into(), roles: vec!["admin".into()] };
    ///
    /// let claim = TenantClaim::new("acme".parse()?);
    /// let ctx = claim.verify_request(&registry, &config, Some(user.clone())).await?.into_ctx();
    /// assert_eq!(ctx.user_id(), Some("u-42"));
    /// assert!(ctx.has_role("admin"));
    ///
    /// // A user vouches for no tenant the registry does not.
    /// let unknown = TenantClaim::new("initech".parse()?);
    /// let refused = unknown.verify_request(&registry, &config, Some(user)).await;
    /// assert!(matches!(refused, Err(ClaimError::Unknown)));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn verify_request<R: TenantRegistry>(
        &self,
        registry: &R,
        config: &TenancyConfig,
        user: Option<AuthenticatedUser>,
    ) -> Result<Resolved, ClaimError> {
        let ctx = self.verify(registry, config).await?;
        Ok(Resolved(match user {
            Some(user) => ctx.with_member(user.user_id, user.roles),
            None => ctx,
        }))
    }
}
