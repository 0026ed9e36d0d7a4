//! [`TenantCtx`]: proof that the current code runs on behalf of one resolved tenant.

use std::fmt;
use std::str::FromStr;

use crate::{Error, Plan, TenantId};

/// The name of a tenant's database schema: 1 to 63 bytes of `[a-z0-9_]`, not starting with a
/// digit, so it is a valid unquoted identifier on PostgreSQL.
///
/// ```
/// use tenant::SchemaName;
///
/// assert!("tenant_acme".parse::<SchemaName>().is_ok());
/// assert!("acme; drop schema public".parse::<SchemaName>().is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct SchemaName(String);

impl SchemaName {
    /// The schema name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for SchemaName {
    type Err = Error;

    fn from_str(name: &str) -> Result<Self, Error> {
        let valid_chars = name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        let starts_with_digit = name.bytes().next().is_some_and(|b| b.is_ascii_digit());
        if name.is_empty() || name.len() > 63 || !valid_chars || starts_with_digit {
            return Err(Error::InvalidSchemaName);
        }
        if is_reserved_schema(name) {
            return Err(Error::ReservedSchemaName);
        }
        Ok(SchemaName(name.to_owned()))
    }
}

/// Schemas a tenant must never be given: PostgreSQL's own (`pg_*`, `information_schema`), the
/// shared `public`, and PostgreSQL's reserved key words, which are not valid unquoted names.
fn is_reserved_schema(name: &str) -> bool {
    const SHARED: &[&str] = &["public", "information_schema"];
    // PostgreSQL 15, Appendix C: the key words reserved in PostgreSQL.
    const RESERVED_KEY_WORDS: &[&str] = &[
        "all",
        "analyse",
        "analyze",
        "and",
        "any",
        "array",
        "as",
        "asc",
        "asymmetric",
        "both",
        "case",
        "cast",
        "check",
        "collate",
        "column",
        "constraint",
        "create",
        "current_catalog",
        "current_date",
        "current_role",
        "current_time",
        "current_timestamp",
        "current_user",
        "default",
        "deferrable",
        "desc",
        "distinct",
        "do",
        "else",
        "end",
        "except",
        "false",
        "fetch",
        "for",
        "foreign",
        "from",
        "grant",
        "group",
        "having",
        "in",
        "initially",
        "intersect",
        "into",
        "lateral",
        "leading",
        "limit",
        "localtime",
        "localtimestamp",
        "not",
        "null",
        "offset",
        "on",
        "only",
        "or",
        "order",
        "placing",
        "primary",
        "references",
        "returning",
        "select",
        "session_user",
        "some",
        "symmetric",
        "system_user",
        "table",
        "then",
        "to",
        "trailing",
        "true",
        "union",
        "unique",
        "user",
        "using",
        "variadic",
        "when",
        "where",
        "window",
        "with",
    ];
    name.starts_with("pg_") || SHARED.contains(&name) || RESERVED_KEY_WORDS.contains(&name)
}

impl<'de> serde::Deserialize<'de> for SchemaName {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for SchemaName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for SchemaName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SchemaName({:?})", self.0)
    }
}

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
        }
    }

    /// The same context, acting for an authenticated user of the tenant with these roles.
    ///
    /// ```
    /// use tenant::{Plan, TenantCtx};
    ///
    /// let ctx = TenantCtx::trusted("acme".parse()?, "tenant_acme".parse()?, Plan::Free)
    ///     .with_user("u-42", ["admin"]);
    /// assert_eq!(ctx.user_id(), Some("u-42"));
    /// assert!(ctx.has_role("admin"));
    /// # Ok::<(), tenant::Error>(())
    /// ```
    pub fn with_user<R: Into<String>>(
        mut self,
        user_id: impl Into<String>,
        roles: impl IntoIterator<Item = R>,
    ) -> Self {
        self.user_id = Some(user_id.into());
        self.roles = roles.into_iter().map(Into::into).collect();
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

impl fmt::Debug for TenantCtx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TenantCtx")
            .field("tenant_id", &self.tenant_id.as_str())
            .field("schema_name", &self.schema_name.as_str())
            .field("plan", &self.plan.as_str())
            .field("user_id", &self.user_id)
            .field("roles", &self.roles)
            .finish()
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
        let json = serde_json::to_value(ctx().with_user("u1", ["admin", "billing"])).unwrap();
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
        let ctx = ctx().with_user("u1", ["admin"]);
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

    #[test]
    fn schema_names() {
        for ok in ["a", "tenant_acme", "_x", "t1"] {
            assert!(ok.parse::<SchemaName>().is_ok(), "{ok}");
        }
        for bad in ["", "1t", "Tenant", "a-b", "a b", "a;b", "\"a\""] {
            assert!(bad.parse::<SchemaName>().is_err(), "{bad}");
        }
        // Regression: shared and system schemas, and key words, were valid.
        for reserved in [
            "public",
            "pg_catalog",
            "pg_toast",
            "information_schema",
            "select",
            "user",
        ] {
            assert!(
                matches!(
                    reserved.parse::<SchemaName>(),
                    Err(Error::ReservedSchemaName)
                ),
                "{reserved}"
            );
        }
        assert!("a".repeat(64).parse::<SchemaName>().is_err());
    }
}
