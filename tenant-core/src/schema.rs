//! [`SchemaName`]: the name of a tenant's database schema, and why one was refused.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

/// Why a schema name was refused. Converts into [`Error`](crate::Error)
/// (`InvalidSchemaName` / `ReservedSchemaName`), so `?` works where a `tenant::Error` is
/// returned.
///
/// ```
/// use tenant::{SchemaName, SchemaNameError};
///
/// assert_eq!("1st".parse::<SchemaName>(), Err(SchemaNameError::Invalid));
/// assert_eq!("public".parse::<SchemaName>(), Err(SchemaNameError::Reserved));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SchemaNameError {
    /// Not 1 to 63 bytes of `[a-z0-9_]` not starting with a digit.
    #[error(
        "invalid schema name: expected 1 to 63 bytes of lowercase ASCII letters, digits and '_', not starting with a digit"
    )]
    Invalid,
    /// Valid, but never a tenant's: a shared or system schema (`public`, `pg_*`,
    /// `information_schema`) or a reserved SQL key word.
    #[error(
        "reserved schema name: a tenant's schema cannot be shared, a system schema or a key word"
    )]
    Reserved,
}

/// The name of a tenant's database schema: 1 to 63 bytes of `[a-z0-9_]`, not starting with a
/// digit, so it is a valid unquoted identifier on PostgreSQL.
///
/// ```
/// use tenant::SchemaName;
///
/// assert!("tenant_acme".parse::<SchemaName>().is_ok());
/// assert!("acme; drop schema public".parse::<SchemaName>().is_err());
/// ```
// Shared text: every verified context and every cached tenant carries one, so a clone is a
// reference count, not an allocation.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SchemaName(Arc<str>);

impl SchemaName {
    /// The longest schema name, in bytes (PostgreSQL's identifier limit).
    pub const MAX_LEN: usize = 63;

    /// The schema name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for SchemaName {
    type Err = SchemaNameError;

    fn from_str(name: &str) -> Result<Self, SchemaNameError> {
        let valid_chars = name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        let starts_with_digit = name.bytes().next().is_some_and(|b| b.is_ascii_digit());
        if name.is_empty() || name.len() > Self::MAX_LEN || !valid_chars || starts_with_digit {
            return Err(SchemaNameError::Invalid);
        }
        if is_reserved_schema(name) {
            return Err(SchemaNameError::Reserved);
        }
        Ok(SchemaName(Arc::from(name)))
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

impl serde::Serialize for SchemaName {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
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

#[cfg(test)]
mod tests {
    use super::*;

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
                    Err(SchemaNameError::Reserved)
                ),
                "{reserved}"
            );
        }
        assert!("a".repeat(64).parse::<SchemaName>().is_err());
    }
}
