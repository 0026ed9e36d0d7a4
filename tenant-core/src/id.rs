//! [`TenantId`]: the validated identifier of a tenant.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

/// The longest tenant id accepted, in bytes. 63 is the longest DNS label, so every tenant id can
/// also be a subdomain.
pub const TENANT_ID_MAX_LEN: usize = 63;

/// A validated tenant identifier: a lowercase slug (`acme`, `acme-eu-2`) or the lowercase text of
/// a UUID (`0b9a4c1e-3f5d-4a51-9d55-0f6f1c9c2a10`).
///
/// The grammar is `[a-z0-9]([a-z0-9-]*[a-z0-9])?`, at most [`TENANT_ID_MAX_LEN`] bytes. Anything
/// else — empty, too long, upper case, whitespace, quotes, `%`, `;`, non-ASCII — is rejected with a
/// [`TenantIdError`] that says why, so an id can be embedded in SQL parameters, cache keys, log
/// lines and host names without escaping surprises.
///
/// There is deliberately no `From<String>` or `Default`: a tenant id only comes from
/// [`str::parse`], [`TenantId::parse`] or deserialisation, which all validate.
///
/// ```
/// use tenant::TenantId;
///
/// let id: TenantId = "acme".parse()?;
/// assert_eq!(id.as_str(), "acme");
/// assert!("Acme".parse::<TenantId>().is_err());
/// assert!("acme'; DROP TABLE invoices; --".parse::<TenantId>().is_err());
/// # Ok::<(), tenant::TenantIdError>(())
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TenantId(Arc<str>);

/// Why a string is not a valid [`TenantId`].
///
/// The offending input is never echoed whole (it may be hostile); the error names the first
/// problem and its byte position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TenantIdError {
    /// The input was empty.
    #[error("tenant id is empty")]
    Empty,
    /// The input was longer than [`TENANT_ID_MAX_LEN`] bytes.
    #[error("tenant id is {len} bytes long; at most {TENANT_ID_MAX_LEN} are allowed")]
    TooLong {
        /// Length of the rejected input, in bytes.
        len: usize,
    },
    /// The input holds a character outside `a-z`, `0-9` and `-`.
    #[error(
        "tenant id has {found:?} at byte {position}; only lowercase ASCII letters, digits and '-' are allowed"
    )]
    InvalidChar {
        /// The first offending character.
        found: char,
        /// Its byte offset in the input.
        position: usize,
    },
    /// The input starts or ends with `-`.
    #[error("tenant id must start and end with a letter or digit, not '-'")]
    EdgeHyphen,
}

impl TenantId {
    /// Validates `input` as a tenant id.
    ///
    /// ```
    /// use tenant::{TenantId, TenantIdError};
    ///
    /// assert!(TenantId::parse("globex-2").is_ok());
    /// assert_eq!(TenantId::parse(""), Err(TenantIdError::Empty));
    /// assert!(matches!(TenantId::parse("a b"), Err(TenantIdError::InvalidChar { found: ' ', position: 1 })));
    /// ```
    pub fn parse(input: &str) -> Result<Self, TenantIdError> {
        validate(input)?;
        Ok(TenantId(Arc::from(input)))
    }

    /// The id as text, exactly as it is stored and bound in SQL.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn validate(input: &str) -> Result<(), TenantIdError> {
    if input.is_empty() {
        return Err(TenantIdError::Empty);
    }
    if input.len() > TENANT_ID_MAX_LEN {
        return Err(TenantIdError::TooLong { len: input.len() });
    }
    if let Some((position, found)) = input
        .char_indices()
        .find(|&(_, c)| !matches!(c, 'a'..='z' | '0'..='9' | '-'))
    {
        return Err(TenantIdError::InvalidChar { found, position });
    }
    if input.starts_with('-') || input.ends_with('-') {
        return Err(TenantIdError::EdgeHyphen);
    }
    Ok(())
}

impl FromStr for TenantId {
    type Err = TenantIdError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        TenantId::parse(input)
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TenantId({:?})", &*self.0)
    }
}

impl AsRef<str> for TenantId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl serde::Serialize for TenantId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for TenantId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;

        impl serde::de::Visitor<'_> for Visitor {
            type Value = TenantId;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a tenant id (lowercase slug or UUID text)")
            }

            fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<TenantId, E> {
                TenantId::parse(value).map_err(E::custom)
            }
        }

        deserializer.deserialize_str(Visitor)
    }
}

// A tenant id is stored as text. Decoding validates again: a row whose tenant column was
// written around this crate must not become a `TenantId` that the constructors would refuse.
#[cfg(feature = "sqlx")]
impl<DB: sqlx::Database> sqlx::Type<DB> for TenantId
where
    str: sqlx::Type<DB>,
{
    fn type_info() -> DB::TypeInfo {
        <str as sqlx::Type<DB>>::type_info()
    }

    fn compatible(ty: &DB::TypeInfo) -> bool {
        <str as sqlx::Type<DB>>::compatible(ty)
    }
}

#[cfg(feature = "sqlx")]
impl<'q, DB: sqlx::Database> sqlx::Encode<'q, DB> for TenantId
where
    for<'a> &'a str: sqlx::Encode<'q, DB>,
{
    fn encode_by_ref(
        &self,
        buf: &mut <DB as sqlx::Database>::ArgumentBuffer,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        <&str as sqlx::Encode<'q, DB>>::encode(&self.0, buf)
    }
}

#[cfg(feature = "sqlx")]
impl<'r, DB: sqlx::Database> sqlx::Decode<'r, DB> for TenantId
where
    &'r str: sqlx::Decode<'r, DB>,
{
    fn decode(
        value: <DB as sqlx::Database>::ValueRef<'r>,
    ) -> Result<Self, sqlx::error::BoxDynError> {
        let text = <&'r str as sqlx::Decode<'r, DB>>::decode(value)?;
        Ok(TenantId::parse(text)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_slugs_and_uuid_text() {
        for ok in [
            "a",
            "acme",
            "acme-eu-2",
            "0",
            "0b9a4c1e-3f5d-4a51-9d55-0f6f1c9c2a10",
        ] {
            assert_eq!(TenantId::parse(ok).unwrap().as_str(), ok);
        }
        let longest = "a".repeat(TENANT_ID_MAX_LEN);
        assert!(TenantId::parse(&longest).is_ok());
    }

    #[test]
    fn rejects_bad_input_with_the_reason() {
        assert_eq!(TenantId::parse(""), Err(TenantIdError::Empty));
        assert_eq!(
            TenantId::parse(&"a".repeat(64)),
            Err(TenantIdError::TooLong { len: 64 })
        );
        assert_eq!(
            TenantId::parse("Acme"),
            Err(TenantIdError::InvalidChar {
                found: 'A',
                position: 0
            })
        );
        assert_eq!(
            TenantId::parse("acme' OR '1'='1"),
            Err(TenantIdError::InvalidChar {
                found: '\'',
                position: 4
            })
        );
        assert_eq!(
            TenantId::parse("ac\u{e9}me"),
            Err(TenantIdError::InvalidChar {
                found: '\u{e9}',
                position: 2
            })
        );
        assert_eq!(TenantId::parse("-acme"), Err(TenantIdError::EdgeHyphen));
        assert_eq!(TenantId::parse("acme-"), Err(TenantIdError::EdgeHyphen));
        for bad in [
            "acme\0", "acme\n", " acme", "acme;", "acme%", "a/b", "a.b", "a_b", "*",
        ] {
            assert!(TenantId::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn serde_round_trips_and_rejects_invalid_ids() {
        let id = TenantId::parse("acme").unwrap();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, "\"acme\"");
        assert_eq!(serde_json::from_str::<TenantId>(&json).unwrap(), id);

        let err = serde_json::from_str::<TenantId>("\"ACME\"").unwrap_err();
        assert!(err.to_string().contains("only lowercase"), "{err}");
        assert!(serde_json::from_str::<TenantId>("42").is_err());
        assert!(serde_json::from_str::<TenantId>("null").is_err());
        assert!(serde_json::from_str::<TenantId>("\"\"").is_err());
    }
}
