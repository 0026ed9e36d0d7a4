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
/// [`Plan::Other`], which weighs 1. Keys may come in any order (the Python SDK sorts them).
///
/// # Unknown fields: ignored, never trusted
///
/// Any other field (`user_id`, `roles`, or one a newer version of the seeds' context added) is
/// read and dropped. This is safe because nothing in a claim but `tenant_id` is used, and that
/// only once the registry vouched for it: schema and plan come from the registry's record, and
/// no field on a wire can grant a role or a user. Refusing them instead would make every Rust
/// activity fail for good the day the Python side adds a field to its context, before the Rust
/// side is redeployed. The fields that matter are still checked: a missing or malformed
/// `tenant_id`, or a malformed `schema_name` or `plan`, is an error. (The activity inputs that
/// hold a claim are stricter: an unknown parameter there is refused, see `tenant::temporal`.)
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
///
/// // A field of a newer context is ignored, and grants nothing.
/// let newer = r#"{"region":"eu","roles":["admin"],"schema_name":"tenant_acme","tenant_id":"acme"}"#;
/// assert_eq!(serde_json::from_str::<TenantClaim>(newer)?, serde_json::from_str(seeds)?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, serde::Serialize)]
pub struct TenantClaim {
    tenant_id: TenantId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    schema_name: Option<SchemaName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    plan: Option<Plan>,
}

/// A claim as it is read. No `deny_unknown_fields`: see "Unknown fields" on [`TenantClaim`].
#[derive(serde::Deserialize)]
struct WireClaim {
    tenant_id: TenantId,
    #[serde(default)]
    schema_name: Option<SchemaName>,
    #[serde(default)]
    plan: Option<Plan>,
}

impl<'de> serde::Deserialize<'de> for TenantClaim {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // serde's derive also reads a struct from a sequence of its fields in order
        // (`["acme", null, null]`), a second wire format that no other implementation of the
        // seeds' contract writes or reads: a claim is read from an object only.
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = TenantClaim;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a tenant claim: an object with a tenant_id")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<TenantClaim, A::Error> {
                let map = serde::de::value::MapAccessDeserializer::new(map);
                let wire = <WireClaim as serde::Deserialize>::deserialize(map)?;
                Ok(TenantClaim {
                    tenant_id: wire.tenant_id,
                    schema_name: wire.schema_name,
                    plan: wire.plan,
                })
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

impl TenantClaim {
    /// A claim for `tenant_id` with nothing else: what a sender that knows only the id sends.
    pub fn new(tenant_id: TenantId) -> Self {
        TenantClaim {
            tenant_id,
            schema_name: None,
            plan: None,
        }
    }

    /// The claim a [`SignedClaim`](crate::SignedClaim) signs, all of its fields set.
    pub(crate) fn signed_parts(tenant_id: TenantId, schema_name: SchemaName, plan: Plan) -> Self {
        TenantClaim {
            tenant_id,
            schema_name: Some(schema_name),
            plan: Some(plan),
        }
    }

    /// The claim a context makes of itself: what a [`TenantCtx`] is on a wire.
    pub fn of(ctx: &TenantCtx) -> Self {
        TenantClaim {
            tenant_id: ctx.tenant_id().clone(),
            schema_name: Some(ctx.schema_name().clone()),
            plan: Some(ctx.plan().clone()),
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
        // Placement and limits too come from the registry, never from the claim: a payload
        // does not choose the database its tenant's statements run on, nor its own limits.
        Ok(
            TenantCtx::trusted(tenant.id, tenant.schema_name, tenant.plan)
                .with_placement(tenant.placement)
                .with_limits(tenant.limits),
        )
    }
}

/// Equal when they claim the same tenant, schema and plan.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::InMemoryRegistry;

    fn registry() -> InMemoryRegistry {
        InMemoryRegistry::from_ids(["acme".parse().unwrap()]).unwrap()
    }

    /// Found by fuzzing: serde's derive read a claim from an array of its fields in order.
    #[test]
    fn a_claim_is_read_from_an_object_only() {
        for payload in [
            r#"["acme"]"#,
            r#"["acme",null,null]"#,
            r#"["acme","tenant_acme","pro"]"#,
        ] {
            let error = serde_json::from_str::<TenantClaim>(payload).expect_err(payload);
            assert!(
                error.to_string().contains("an object with a tenant_id"),
                "{error}"
            );
        }
        let claim: TenantClaim = serde_json::from_str(r#"{"tenant_id":"acme"}"#).unwrap();
        assert_eq!(claim, TenantClaim::new("acme".parse().unwrap()));
    }

    fn verify(claim: &TenantClaim) -> Result<TenantCtx, ClaimError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(claim.verify(&registry(), &TenancyConfig::default()))
    }

    /// The placement of a verified context is the registry's: a payload that names another
    /// database (in any field) does not move the context there, and the context's JSON does
    /// not carry it.
    #[test]
    fn placement_comes_from_the_registry_never_from_the_payload() {
        let eu: crate::Placement = "eu/database".parse().unwrap();
        let now = std::time::SystemTime::now();
        let registry = InMemoryRegistry::new([crate::Tenant {
            id: "acme".parse().unwrap(),
            slug: "acme".parse().unwrap(),
            name: "Acme".into(),
            plan: crate::Plan::Free,
            schema_name: "tenant_acme".parse().unwrap(),
            limits: None,
            placement: eu.clone(),
            is_active: true,
            created_at: now,
            updated_at: now,
        }])
        .unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        for payload in [
            r#"{"tenant_id":"acme"}"#,
            r#"{"tenant_id":"acme","placement":"main/shared"}"#,
            r#"{"tenant_id":"acme","placement":{"database":"main","tier":"shared"}}"#,
            r#"{"tenant_id":"acme","database":"main"}"#,
        ] {
            let claim: TenantClaim = serde_json::from_str(payload).unwrap();
            let ctx = rt
                .block_on(claim.verify(&registry, &TenancyConfig::default()))
                .unwrap();
            assert_eq!(ctx.placement(), &eu, "{payload}");
            let json = serde_json::to_value(&ctx).unwrap();
            assert_eq!(
                json,
                serde_json::json!({"tenant_id": "acme", "schema_name": "tenant_acme", "plan": "free"})
            );
        }
    }

    /// The compatibility policy: a field no claim has is dropped, whatever it says, and the
    /// context still comes from the registry alone.
    #[test]
    fn unknown_fields_are_ignored_and_grant_nothing() {
        let plain: TenantClaim = serde_json::from_str(r#"{"tenant_id":"acme"}"#).unwrap();
        for newer in [
            r#"{"tenant_id":"acme","region":"eu-west-1"}"#,
            r#"{"tenant_id":"acme","system":true,"is_admin":true}"#,
            r#"{"tenant_id":"acme","user_id":"root","roles":["admin"]}"#,
            // A nested or odd-typed unknown value is skipped whole.
            r#"{"tenant_id":"acme","settings":{"tenant_id":"globex","plan":"enterprise"}}"#,
            r#"{"tenant_id":"acme","tenantId":"globex","shard":[1,2,null]}"#,
        ] {
            let claim: TenantClaim = serde_json::from_str(newer).unwrap();
            assert_eq!(claim, plain, "{newer}");
            let ctx = verify(&claim).unwrap();
            assert_eq!(ctx.tenant_id().as_str(), "acme", "{newer}");
            assert_eq!(ctx.plan(), &Plan::Free, "{newer}");
            assert_eq!(ctx.user_id(), None, "{newer}");
            assert!(ctx.roles().is_empty(), "{newer}");
            // What is sent on is the claim, not the unknown fields.
            assert_eq!(
                serde_json::to_value(&claim).unwrap(),
                serde_json::json!({"tenant_id": "acme"})
            );
        }
    }

    /// Ignoring unknown fields does not loosen the known ones.
    #[test]
    fn known_fields_are_still_checked() {
        for bad in [
            r#"{"tenant":"acme"}"#,
            r#"{"tenant_id":"acme","tenant_id":"globex"}"#,
            r#"{"tenant_id":"acme","schema_name":"public","extra":1}"#,
            r#"{"tenant_id":"acme","plan":"","extra":1}"#,
            r#"{"tenant_id":null,"extra":1}"#,
        ] {
            assert!(
                serde_json::from_str::<TenantClaim>(bad).is_err(),
                "{bad} was accepted"
            );
        }
    }
}
