//! What a run of [`TenantMigrations`](super::TenantMigrations) did, tenant by tenant.

use std::fmt;

use tenant_core::{SchemaName, TenantId};

use crate::error::Error;

/// Every tenant of a [`TenantMigrations::run`](super::TenantMigrations::run): those migrated
/// (or already up to date) and those that failed, each sorted by tenant.
///
/// ```
/// use tenant::sqlx::MigrationReport;
///
/// let report = MigrationReport::default();
/// assert!(report.is_success());
/// assert!(report.ensure().is_ok());
/// ```
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct MigrationReport {
    /// The tenants whose every migration is applied.
    pub migrated: Vec<TenantMigrated>,
    /// The tenants that did not get there, and why.
    pub failed: Vec<TenantFailure>,
}

impl MigrationReport {
    /// No tenant failed.
    pub fn is_success(&self) -> bool {
        self.failed.is_empty()
    }

    /// The report, or [`Error::Migrations`] naming every failed tenant.
    pub fn ensure(self) -> Result<Self, Error> {
        if self.failed.is_empty() {
            Ok(self)
        } else {
            Err(Error::Migrations {
                failed: self.failed,
            })
        }
    }

    pub(super) fn sort(&mut self) {
        self.migrated.sort_by(|a, b| a.tenant.cmp(&b.tenant));
        self.failed.sort_by(|a, b| a.tenant.cmp(&b.tenant));
    }
}

/// A tenant whose every migration is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TenantMigrated {
    /// The tenant.
    pub tenant: TenantId,
    /// Its schema.
    pub schema: SchemaName,
    /// The highest version its schema records (`None`: an empty list of migrations).
    pub version: Option<i64>,
    /// The versions this run applied, in order (empty: it was up to date).
    pub applied: Vec<i64>,
}

/// A tenant that did not reach the latest version: which migration failed (if one did; the
/// schema may be missing, or the record disagree with the list) and the error. Its migrations
/// before the failing one are applied and recorded; the failing one left nothing (it ran in one
/// transaction); the later ones were not tried.
///
/// ```
/// # use tenant::sqlx::{Error, TenantFailure};
/// let failure = TenantFailure::new(
///     "acme".parse()?,
///     "tenant_acme".parse()?,
///     Some((2, "notes are never empty".into())),
///     Some(1),
///     Error::EmptyPatch,
/// );
/// assert_eq!(
///     failure.to_string(),
///     "tenant `acme` (schema tenant_acme, at version 1): migration 2 \"notes are never empty\" \
///      failed: the patch sets no field; nothing to update"
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct TenantFailure {
    /// The tenant.
    pub tenant: TenantId,
    /// Its schema.
    pub schema: SchemaName,
    /// The version of the migration that failed; `None` when the failure came before any (the
    /// schema, the connection, the record).
    pub migration: Option<i64>,
    /// That migration's description.
    pub description: Option<String>,
    /// The highest version its schema records (`None`: none applied).
    pub version: Option<i64>,
    /// What went wrong: the database's error as [`Error::Database`], or one of the run's own
    /// ([`Error::SchemaAbsent`], [`Error::ForeignSchema`], [`Error::MigrationChanged`],
    /// [`Error::MigrationUnknown`]).
    pub error: Error,
}

impl TenantFailure {
    /// A failure of `tenant` in `schema`, in `migration` (version and description) if one
    /// failed, with its schema at `version`. For tests and for tools that build reports of
    /// their own; a run makes its own.
    pub fn new(
        tenant: TenantId,
        schema: SchemaName,
        migration: Option<(i64, String)>,
        version: Option<i64>,
        error: Error,
    ) -> Self {
        let (migration, description) = match migration {
            Some((v, d)) => (Some(v), Some(d)),
            None => (None, None),
        };
        TenantFailure {
            tenant,
            schema,
            migration,
            description,
            version,
            error,
        }
    }
}

impl fmt::Display for TenantFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tenant `{}` (schema {}, ", self.tenant, self.schema)?;
        match self.version {
            Some(v) => write!(f, "at version {v}): ")?,
            None => write!(f, "no migration applied): ")?,
        }
        match (self.migration, &self.description) {
            (Some(v), Some(d)) => write!(f, "migration {v} {d:?} failed: ")?,
            (Some(v), None) => write!(f, "migration {v} failed: ")?,
            _ => {}
        }
        write!(f, "{}", self.error)
    }
}

impl std::error::Error for TenantFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}
