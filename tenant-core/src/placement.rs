//! [`Placement`]: which database holds a tenant's rows, and in which tier.
//!
//! The registry stores it with the tenant's record, and a verified [`TenantCtx`] carries the
//! registry's placement ([`TenantCtx::placement`]), never one read from a payload: a claim on a
//! wire names a tenant, and the verifier reads where that tenant lives from its own registry.
//! The default, [`Placement::default`], is shared tables on the default database (`main`), so
//! code that never mentions placement keeps working.
//!
//! [`TenantCtx`]: crate::TenantCtx
//! [`TenantCtx::placement`]: crate::TenantCtx::placement

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

/// Why a database label or a placement was refused.
///
/// ```
/// use tenant::placement::{DatabaseLabel, Placement, PlacementError};
///
/// assert_eq!("EU".parse::<DatabaseLabel>(), Err(PlacementError::InvalidLabel));
/// assert_eq!("eu/sharded".parse::<Placement>(), Err(PlacementError::InvalidTier));
/// assert_eq!("eu".parse::<Placement>(), Err(PlacementError::Invalid));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PlacementError {
    /// Not 1 to 32 bytes of `[a-z0-9_-]` starting with a letter.
    #[error(
        "invalid database label: expected 1 to 32 bytes of lowercase ASCII letters, digits, '_' and '-', starting with a letter"
    )]
    InvalidLabel,
    /// Not one of `shared`, `schema`, `database`.
    #[error("invalid placement tier: expected `shared`, `schema` or `database`")]
    InvalidTier,
    /// Not `<label>/<tier>`.
    #[error("invalid placement: expected `<database label>/<tier>`, e.g. `main/shared`")]
    Invalid,
}

/// The name of a configured database (`main`, `eu`, `tenants-files`): a key of the pool set's
/// configuration (`TENANT_DATABASES=main=postgres://..,eu=postgres://..`), never a URL. 1 to 32
/// bytes of `[a-z0-9_-]` starting with a letter, so it is safe in logs, metrics labels and
/// environment variables.
///
/// ```
/// use tenant::placement::DatabaseLabel;
///
/// let eu: DatabaseLabel = "eu".parse()?;
/// assert_eq!(eu.as_str(), "eu");
/// assert_eq!(DatabaseLabel::default().as_str(), DatabaseLabel::MAIN);
/// assert!("postgres://db/eu".parse::<DatabaseLabel>().is_err());
/// # Ok::<(), tenant::placement::PlacementError>(())
/// ```
// Shared text, as `SchemaName`'s: a context's clone counts a reference instead of allocating.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DatabaseLabel(Arc<str>);

impl DatabaseLabel {
    /// The label of the default database: the one `DATABASE_URL` names.
    pub const MAIN: &'static str = "main";

    /// The longest label, in bytes.
    pub const MAX_LEN: usize = 32;

    /// The label as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for DatabaseLabel {
    fn default() -> Self {
        DatabaseLabel(Arc::from(Self::MAIN))
    }
}

impl FromStr for DatabaseLabel {
    type Err = PlacementError;

    fn from_str(label: &str) -> Result<Self, PlacementError> {
        let first_is_letter = label.bytes().next().is_some_and(|b| b.is_ascii_lowercase());
        let valid = label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if !first_is_letter || !valid || label.len() > Self::MAX_LEN {
            return Err(PlacementError::InvalidLabel);
        }
        Ok(DatabaseLabel(Arc::from(label)))
    }
}

impl fmt::Display for DatabaseLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for DatabaseLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

/// How a tenant's rows are isolated inside its database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Tier {
    /// Rows with a tenant column in tables every tenant of the database shares (the default).
    #[default]
    Shared,
    /// The tenant's own schema, named by the record's [`SchemaName`](crate::SchemaName).
    Schema,
    /// A database of its own: a PostgreSQL database, or a SQLite file, that holds this tenant
    /// only (the label's URL is then a template with `{tenant}` in it).
    Database,
}

impl Tier {
    /// `shared`, `schema` or `database`: how the registry stores it.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Shared => "shared",
            Tier::Schema => "schema",
            Tier::Database => "database",
        }
    }
}

impl FromStr for Tier {
    type Err = PlacementError;

    fn from_str(tier: &str) -> Result<Self, PlacementError> {
        match tier {
            "shared" => Ok(Tier::Shared),
            "schema" => Ok(Tier::Schema),
            "database" => Ok(Tier::Database),
            _ => Err(PlacementError::InvalidTier),
        }
    }
}

/// Where a tenant lives: a configured database ([`DatabaseLabel`]) and a [`Tier`]. Stored in
/// the registry as `<label>/<tier>` (its `Display` and `FromStr`).
///
/// ```
/// use tenant::placement::{Placement, Tier};
///
/// let eu: Placement = "eu/schema".parse()?;
/// assert_eq!(eu.database().as_str(), "eu");
/// assert_eq!(eu.tier(), Tier::Schema);
/// assert_eq!(eu.to_string(), "eu/schema");
/// assert_eq!(Placement::default().to_string(), "main/shared");
/// # Ok::<(), tenant::placement::PlacementError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Placement {
    database: DatabaseLabel,
    tier: Tier,
}

impl Placement {
    /// The placement on `database` in `tier`.
    pub fn new(database: DatabaseLabel, tier: Tier) -> Self {
        Placement { database, tier }
    }

    /// The database that holds the tenant's rows.
    pub fn database(&self) -> &DatabaseLabel {
        &self.database
    }

    /// How the tenant is isolated there.
    pub fn tier(&self) -> Tier {
        self.tier
    }
}

impl FromStr for Placement {
    type Err = PlacementError;

    fn from_str(text: &str) -> Result<Self, PlacementError> {
        let (label, tier) = text.split_once('/').ok_or(PlacementError::Invalid)?;
        Ok(Placement {
            database: label.parse()?,
            tier: tier.parse()?,
        })
    }
}

impl fmt::Display for Placement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.database, self.tier.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_validated() {
        for good in ["main", "eu", "eu-west_2", "a", &"a".repeat(32)] {
            assert!(good.parse::<DatabaseLabel>().is_ok(), "{good}");
        }
        for bad in [
            "",
            "1eu",
            "-eu",
            "Eu",
            "eu west",
            "eu/shared",
            "eu=x",
            "é",
            &"a".repeat(33),
        ] {
            assert_eq!(
                bad.parse::<DatabaseLabel>(),
                Err(PlacementError::InvalidLabel),
                "{bad}"
            );
        }
    }

    #[test]
    fn placements_round_trip_through_text() {
        for tier in [Tier::Shared, Tier::Schema, Tier::Database] {
            let placement = Placement::new("eu".parse().unwrap(), tier);
            assert_eq!(placement.to_string().parse::<Placement>(), Ok(placement));
        }
        for bad in [
            "",
            "/",
            "main",
            "main/",
            "/shared",
            "main/shared/x",
            "main/Shared",
        ] {
            assert!(bad.parse::<Placement>().is_err(), "{bad}");
        }
    }
}
