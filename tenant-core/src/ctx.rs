//! [`TenantCtx`]: proof that the current code runs on behalf of one resolved tenant.

use std::fmt;

use crate::{Limits, Placement, Plan, SchemaName, TenantId};

/// The context of one resolved tenant: every tenant-scoped operation takes `&TenantCtx` first.
///
/// Its fields are private and it has no `Default` and no conversion from a [`TenantId`] or a
/// string, so code cannot conjure a context for an arbitrary tenant by accident. A context comes
/// from:
/// - [`TenantClaim::verify`](crate::TenantClaim::verify), the one path from a wire (a request,
///   a workflow payload, an event) to a context: the registry says the tenant exists, is active
///   and is allowed, and gives its schema and plan;
/// - [`TenantCtx::trusted`], the explicit constructor for code that has already done those
///   checks (tests, migrations, a tool run by an operator). Grep for it in review; the
///   `tenant-audit` inventory lists every call.
///
/// It serialises (a context goes on the wire as a claim) but does not deserialise: a
/// `#[derive(Deserialize)]` type holding a `TenantCtx` would let a client pick its tenant. Read
/// a [`TenantClaim`](crate::TenantClaim) instead. Its JSON shape is the contract with other
/// services and the workflow engine:
///
/// ```
/// use tenant::{Plan, TenantCtx};
///
/// let ctx = TenantCtx::trusted("acme".parse()?, "tenant_acme".parse()?, Plan::Pro);
/// let json = serde_json::to_string(&ctx).unwrap();
/// assert_eq!(json, r#"{"tenant_id":"acme","schema_name":"tenant_acme","plan":"pro"}"#);
///
/// // What a receiver reads: a claim, which names the tenant and proves nothing yet.
/// let claim: tenant::TenantClaim = serde_json::from_str(&json).unwrap();
/// assert_eq!(claim, tenant::TenantClaim::of(&ctx));
/// // A tampered payload is an error, not even a claim.
/// assert!(serde_json::from_str::<tenant::TenantClaim>(r#"{"tenant_id":"ACME"}"#).is_err());
/// # Ok::<(), tenant::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, serde::Serialize)]
pub struct TenantCtx {
    tenant_id: TenantId,
    schema_name: SchemaName,
    plan: Plan,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    roles: Vec<String>,
    /// Not on the wire: a receiver reads the tenant's placement from its own registry when it
    /// verifies the claim, so no payload can choose the database (and the seeds' JSON stays).
    #[serde(skip)]
    placement: Placement,
    /// Not on the wire either: the tenant's own limits, from the registry's record when the
    /// context was verified (a payload does not raise its tenant's limits).
    #[serde(skip)]
    limits: Option<Limits>,
}

impl TenantCtx {
    /// Builds a context for a tenant whose existence, status and the caller's right to act for it
    /// have already been checked. The name is deliberately loud: grep for it in review.
    pub fn trusted(tenant_id: TenantId, schema_name: SchemaName, plan: Plan) -> Self {
        TenantCtx {
            tenant_id,
            schema_name,
            plan,
            user_id: None,
            roles: Vec::new(),
            placement: Placement::default(),
            limits: None,
        }
    }

    /// The same context, placed at `placement` (the registry's). [`TenantClaim::verify`]
    /// calls it with the record's placement; code that builds a context with
    /// [`trusted`](Self::trusted) from a record it read calls it too.
    ///
    /// A placement chooses a database, never a tenant: a context placed where its tenant does
    /// not live reads nothing of another tenant, and its tenant-bound transactions are refused
    /// by the database itself (`tenant::sqlx::Error::Moved`: the placement table of each
    /// database, not this value, says which tenants it holds).
    ///
    /// ```
    /// use tenant::{Plan, TenantCtx};
    /// use tenant::placement::Placement;
    ///
    /// let ctx = TenantCtx::trusted("acme".parse()?, "tenant_acme".parse()?, Plan::Free);
    /// assert_eq!(ctx.placement(), &Placement::default());
    /// let eu = ctx.clone().with_placement("eu/shared".parse()?);
    /// assert_eq!(eu.placement().database().as_str(), "eu");
    /// // The wire form does not change: the receiver's registry says where acme lives.
    /// assert_eq!(serde_json::to_string(&eu)?, serde_json::to_string(&ctx)?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// [`TenantClaim::verify`]: crate::TenantClaim::verify
    pub fn with_placement(mut self, placement: Placement) -> Self {
        self.placement = placement;
        self
    }

    /// Not callable: a context's user and roles are attached when it is minted, by
    /// [`TenantClaim::verify_request`](crate::TenantClaim::verify_request) with the answer of the
    /// request resolver's user hook, never by code that holds a context. Attaching a user of
    /// one's choice to a verified tenant would let any holder of a context act as any member
    /// with any role. The method stays so that such a call meets an error naming the resolver,
    /// not a bare "no method".
    ///
    /// ```compile_fail,E0277
    /// fn escalate(ctx: tenant::TenantCtx) -> tenant::TenantCtx {
    ///     ctx.with_user("mallory", ["admin"])
    /// }
    /// ```
    #[expect(
        unreachable_code,
        reason = "no type implements `FromUserHook`: this body never runs"
    )]
    pub fn with_user<U: FromUserHook, R>(self, user: U, roles: R) -> Self {
        let _ = roles;
        match user.unreachable() {}
    }

    /// The same context, acting for `user`: only [`TenantClaim::verify_request`] calls it.
    ///
    /// [`TenantClaim::verify_request`]: crate::TenantClaim::verify_request
    pub(crate) fn with_member(mut self, user_id: String, roles: Vec<String>) -> Self {
        self.user_id = Some(user_id);
        self.roles = roles;
        self
    }

    /// The tenant this context acts for.
    pub fn tenant_id(&self) -> &TenantId {
        &self.tenant_id
    }

    /// The tenant's database schema.
    pub fn schema_name(&self) -> &SchemaName {
        &self.schema_name
    }

    /// The tenant's plan.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Where the tenant's rows live: the registry's placement when the context was verified,
    /// the default (shared tables on `main`) for [`trusted`](Self::trusted).
    pub fn placement(&self) -> &Placement {
        &self.placement
    }

    /// The tenant's own limits at the request boundary, from its registry record
    /// ([`Tenant::limits`](crate::Tenant::limits)) when the context was verified; `None` for
    /// a tenant on its plan's limits, and for [`trusted`](Self::trusted). `tenant::http`'s
    /// `FairLayer` applies them instead of the plan's.
    ///
    /// Only verification sets them ([`TenantClaim::verify`](crate::TenantClaim::verify), the
    /// request boundary): code holding a context cannot raise its tenant's limits.
    ///
    /// ```
    /// use tenant::registry::InMemoryRegistry;
    /// use tenant::{Limits, Plan, TenancyConfig, Tenant, TenantClaim, TenantCtx};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let now = std::time::SystemTime::now();
    /// let acme = Tenant {
    ///     id: "acme".parse()?,
    ///     slug: "acme".parse()?,
    ///     name: "Acme".into(),
    ///     plan: Plan::Free,
    ///     schema_name: "tenant_acme".parse()?,
    ///     placement: Default::default(),
    ///     limits: Some(Limits::new(500, 1_000, 32)?),
    ///     is_active: true,
    ///     created_at: now,
    ///     updated_at: now,
    /// };
    /// let registry = InMemoryRegistry::new([acme])?;
    /// let claimed = TenantCtx::trusted("acme".parse()?, "tenant_acme".parse()?, Plan::Free);
    /// assert_eq!(claimed.limits(), None);
    /// let ctx = TenantClaim::of(&claimed).verify(&registry, &TenancyConfig::default()).await?;
    /// assert_eq!(ctx.limits(), Some(Limits::new(500, 1_000, 32)?));
    /// # Ok(())
    /// # }
    /// ```
    pub fn limits(&self) -> Option<Limits> {
        self.limits
    }

    /// The same context with the registry's limits for its tenant: verification only.
    pub(crate) fn with_limits(mut self, limits: Option<Limits>) -> Self {
        self.limits = limits;
        self
    }

    /// The authenticated user, if the context carries one.
    pub fn user_id(&self) -> Option<&str> {
        self.user_id.as_deref()
    }

    /// The user's roles within the tenant.
    pub fn roles(&self) -> &[String] {
        &self.roles
    }

    /// Whether the user holds `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}

mod sealed {
    pub trait Sealed {}
}

/// What [`TenantCtx::with_user`] would take, and no type is: a context gets its user from the
/// request resolver's user hook, when it is minted. Sealed, with no implementations, so that a
/// call of `with_user` fails to compile with this explanation.
///
/// ```compile_fail,E0277
/// fn escalate(ctx: tenant::TenantCtx) -> tenant::TenantCtx {
///     ctx.with_user("mallory", ["admin"])
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "a `TenantCtx` gets its user from the request resolver's `UserHook`, not from `{Self}`",
    label = "a user named here, not one the resolver's user hook authenticated",
    note = "return the user from your `UserHook` and give it to `TenantResolver::new(..).users(hook)`: the resolver verifies the tenant, then attaches the user (`TenantClaim::verify_request`)"
)]
pub trait FromUserHook: sealed::Sealed {
    /// No value of an implementing type exists.
    fn unreachable(self) -> std::convert::Infallible;
}

impl fmt::Debug for TenantCtx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("TenantCtx");
        debug
            .field("tenant_id", &self.tenant_id.as_str())
            .field("schema_name", &self.schema_name.as_str())
            .field("plan", &self.plan.as_str())
            .field("user_id", &self.user_id)
            .field("roles", &self.roles)
            .field("placement", &format_args!("{}", self.placement));
        if let Some(limits) = &self.limits {
            debug.field("limits", &format_args!("{limits}"));
        }
        debug.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> TenantCtx {
        TenantCtx::trusted(
            "acme".parse().unwrap(),
            "tenant_acme".parse().unwrap(),
            Plan::Enterprise,
        )
    }

    #[test]
    fn json_shape_is_the_contract() {
        let json = serde_json::to_value(
            ctx().with_member("u1".into(), vec!["admin".into(), "billing".into()]),
        )
        .unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "tenant_id": "acme", "schema_name": "tenant_acme", "plan": "enterprise",
                "user_id": "u1", "roles": ["admin", "billing"]
            })
        );
    }

    #[test]
    fn a_serialised_context_reads_back_as_its_claim() {
        let ctx = ctx().with_member("u1".into(), vec!["admin".into()]);
        let claim: crate::TenantClaim =
            serde_json::from_str(&serde_json::to_string(&ctx).unwrap()).unwrap();
        assert_eq!(claim, crate::TenantClaim::of(&ctx));
    }

    #[test]
    fn the_seeds_null_and_absent_fields_are_a_claim() {
        for seeds in [
            r#"{"plan":null,"schema_name":"tenant_acme","tenant_id":"acme"}"#,
            r#"{"tenant_id":"acme","schema_name":null,"plan":null}"#,
            r#"{"tenant_id":"acme"}"#,
            r#"{"tenant_id":"acme","plan":"platinum"}"#,
        ] {
            let claim: crate::TenantClaim = serde_json::from_str(seeds).unwrap();
            assert_eq!(claim.tenant_id().as_str(), "acme", "{seeds}");
            assert!(
                claim.plan().is_none_or(|plan| plan.weight() == 1.0),
                "{seeds}"
            );
        }
    }

    #[test]
    fn garbage_payloads_are_errors() {
        for bad in [
            "",
            "null",
            "{}",
            r#"{"schema_name":"tenant_acme"}"#,
            r#"{"tenant_id":"","schema_name":"tenant_acme"}"#,
            r#"{"tenant_id":"acme'--","schema_name":"tenant_acme"}"#,
            r#"{"tenant_id":"acme","schema_name":"x; drop schema public"}"#,
            r#"{"tenant_id":"acme","schema_name":"tenant_acme","plan":""}"#,
            r#"{"tenant_id":42,"schema_name":"tenant_acme"}"#,
        ] {
            assert!(
                serde_json::from_str::<crate::TenantClaim>(bad).is_err(),
                "{bad} was accepted"
            );
        }
    }
}
