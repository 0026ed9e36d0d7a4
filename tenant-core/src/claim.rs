//! [`TenantClaim`]: a tenant named on a wire (a workflow payload, an event, a message), not yet
//! trusted. It becomes a [`TenantCtx`] only through [`TenantClaim::verify`], which asks the
//! registry.

use std::fmt;

use crate::{Plan, SchemaName, TenancyConfig, TenantCtx, TenantId, TenantRegistry};

/// A tenant named by a payload: what crosses a wire in place of a [`TenantCtx`], which cannot be
/// deserialised.
///
/// Its JSON is the seeds' context contract, `{"tenant_id": .., "schema_name": .., "plan": ..}`,
/// which is also what a serialised [`TenantCtx`] looks like. `schema_name` and `plan` may be
/// absent or `null` (a Python `TenantCtx(plan=None)`), and an unknown plan is kept as
/// [`Plan::Other`], which weighs 1. `user_id` and `roles` are read and dropped: nothing on a wire
/// can vouch for them. Any other field is an error, so a typo or a field of a newer contract is
/// seen, not silently trusted.
///
/// Only [`verify`](TenantClaim::verify) turns it into a context, and there the registry decides:
/// the tenant must exist, be active and be allowed; schema and plan come from the registry's
/// record, never from the claim.
///
/// ```
/// use tenant::TenantClaim;
///
/// let seeds = r#"{"plan":null,"schema_name":"tenant_acme","tenant_id":"acme"}"#;
/// let claim: TenantClaim = serde_json::from_str(seeds)?;
/// assert_eq!(claim.tenant_id().as_str(), "acme");
/// assert!(claim.plan().is_none());
///
/// // Bad ids are refused at the door, with the field that was wrong.
/// let err = serde_json::from_str::<TenantClaim>(r#"{"tenant_id":"ACME"}"#).unwrap_err();
/// assert!(err.to_string().contains("tenant id"), "{err}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantClaim {
    tenant_id: TenantId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    schema_name: Option<SchemaName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    plan: Option<Plan>,
    // Accepted so that a serialised `TenantCtx` reads back as a claim; never trusted.
    #[serde(default, skip_serializing)]
    #[allow(dead_code)]
    user_id: Option<serde::de::IgnoredAny>,
    #[serde(default, skip_serializing)]
    #[allow(dead_code)]
    roles: Option<serde::de::IgnoredAny>,
}

impl TenantClaim {
    /// A claim for `tenant_id` with nothing else: what a sender that knows only the id sends.
    pub fn new(tenant_id: TenantId) -> Self {
        TenantClaim {
            tenant_id,
            schema_name: None,
            plan: None,
            user_id: None,
            roles: None,
        }
    }

    /// The claim a context makes of itself: what a [`TenantCtx`] is on a wire.
    pub fn of(ctx: &TenantCtx) -> Self {
        TenantClaim {
            tenant_id: ctx.tenant_id().clone(),
            schema_name: Some(ctx.schema_name().clone()),
            plan: Some(ctx.plan().clone()),
            user_id: None,
            roles: None,
        }
    }

    /// The tenant the payload names.
    pub fn tenant_id(&self) -> &TenantId {
        &self.tenant_id
    }

    /// The schema the payload names, if any. Compared with the registry's, never used.
    pub fn schema_name(&self) -> Option<&SchemaName> {
        self.schema_name.as_ref()
    }

    /// The plan the payload names, if any. Informational: the registry's plan is used.
    pub fn plan(&self) -> Option<&Plan> {
        self.plan.as_ref()
    }

    /// The context of the claimed tenant, if the registry vouches for it: the tenant exists, is
    /// active and is allowed by `config`, and the claim's schema (when it names one) is the
    /// registry's. Schema and plan come from the registry; a claim whose plan is stale is not
    /// refused (plans change while work is in flight), one whose schema differs is (a schema is
    /// where the tenant's data lives: a mismatch is a forged or misrouted payload).
    ///
    /// ```
    /// use tenant::{InMemoryRegistry, Plan, TenancyConfig, TenantClaim, TenantCtx};
    /// use tenant::claim::ClaimError;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let registry = InMemoryRegistry::from_ids(["acme".parse()?])?;
    /// let config = TenancyConfig::default();
    ///
    /// let claim: TenantClaim = serde_json::from_str(r#"{"tenant_id":"acme","plan":"enterprise"}"#)?;
    /// let ctx: TenantCtx = claim.verify(&registry, &config).await?;
    /// assert_eq!(ctx.plan(), &Plan::Free); // the registry's plan, not the payload's
    ///
    /// let forged: TenantClaim = serde_json::from_str(r#"{"tenant_id":"acme","schema_name":"tenant_globex"}"#)?;
    /// assert!(matches!(forged.verify(&registry, &config).await, Err(ClaimError::SchemaMismatch)));
    /// let unknown: TenantClaim = serde_json::from_str(r#"{"tenant_id":"initech"}"#)?;
    /// assert!(matches!(unknown.verify(&registry, &config).await, Err(ClaimError::Unknown)));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn verify<R: TenantRegistry>(
        &self,
        registry: &R,
        config: &TenancyConfig,
    ) -> Result<TenantCtx, ClaimError> {
        let tenant = registry
            .find_by_id(&self.tenant_id)
            .await
            .map_err(|error| ClaimError::Registry(Box::new(error)))?
            .ok_or(ClaimError::Unknown)?;
        if !tenant.is_active {
            return Err(ClaimError::Inactive);
        }
        if !config.is_allowed(&tenant.id) {
            return Err(ClaimError::NotAllowed);
        }
        if self
            .schema_name
            .as_ref()
            .is_some_and(|claimed| *claimed != tenant.schema_name)
        {
            return Err(ClaimError::SchemaMismatch);
        }
        // The registry vouched for it: the one place a claim becomes a context.
        Ok(TenantCtx::trusted(
            tenant.id,
            tenant.schema_name,
            tenant.plan,
        ))
    }
}

/// Equal when they claim the same tenant, schema and plan (the dropped user fields do not count).
impl PartialEq for TenantClaim {
    fn eq(&self, other: &Self) -> bool {
        (&self.tenant_id, &self.schema_name, &self.plan)
            == (&other.tenant_id, &other.schema_name, &other.plan)
    }
}

impl fmt::Debug for TenantClaim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TenantClaim")
            .field("tenant_id", &self.tenant_id.as_str())
            .field(
                "schema_name",
                &self.schema_name.as_ref().map(SchemaName::as_str),
            )
            .field("plan", &self.plan.as_ref().map(Plan::as_str))
            .finish()
    }
}

/// Why a claim did not become a context. The variants name no tenant.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClaimError {
    /// The registry does not know the tenant.
    #[error("the claimed tenant does not exist")]
    Unknown,
    /// The tenant exists but is deactivated.
    #[error("the claimed tenant is not active")]
    Inactive,
    /// The tenant is not on this deployment's allow-list.
    #[error("the claimed tenant is not allowed here")]
    NotAllowed,
    /// The claim names another schema than the registry's record of the tenant.
    #[error("the claimed schema is not the tenant's")]
    SchemaMismatch,
    /// The registry could not be read: its own error, boxed. Retrying may succeed.
    #[error("the tenant registry is unavailable")]
    Registry(#[source] Box<dyn std::error::Error + Send + Sync>),
}
