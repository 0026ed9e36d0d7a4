//! What a repository or the SQL registry can fail with.

/// What a repository or the SQL registry can fail with: a typed variant, never a panic and never
/// a silent fallback to another tenant.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An update was asked to change nothing.
    #[error("the patch sets no field; nothing to update")]
    EmptyPatch,
    /// A write collided with an existing row of the same tenant: same `#[key]` or same
    /// `#[unique]` value. Another tenant's rows never collide.
    #[error("{table}: a row of this tenant already has this key or unique value")]
    Conflict {
        /// The entity's table.
        table: &'static str,
        /// The database's report.
        #[source]
        source: sqlx::Error,
    },
    /// A write broke a `#[belongs_to]` foreign key, which is led by the tenant column: the row
    /// names a parent key that this tenant has no row with (whoever else does), or a deleted
    /// parent still has children of this tenant (deleting them first, or pointing them
    /// elsewhere, is the caller's choice: the foreign keys have no `ON DELETE` action).
    ///
    /// ```
    /// # use tenant::{tenant_scoped, Plan, TenantCtx, TenantId};
    /// # use tenant::sqlx::Error;
    /// # #[tenant_scoped(table = "customers")]
    /// # pub struct Customer { #[key] pub id: i64, #[tenant] pub tenant_id: TenantId, pub name: String }
    /// # #[tenant_scoped(table = "orders")]
    /// # pub struct Order { #[key] pub id: i64, #[tenant] pub tenant_id: TenantId, #[belongs_to(Customer)] pub customer_id: i64 }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let pool = sqlx::SqlitePool::connect("sqlite::memory:").await?;
    /// CustomerRepo::new(&pool).create_table().await?;
    /// OrderRepo::new(&pool).create_table().await?;
    /// let acme = TenantCtx::trusted("acme".parse()?, "tenant_acme".parse()?, Plan::Free);
    /// let globex = TenantCtx::trusted("globex".parse()?, "tenant_globex".parse()?, Plan::Free);
    /// CustomerRepo::new(&pool).insert(&globex, NewCustomer { id: 7, name: "Globex".into() }).await?;
    ///
    /// // Customer 7 exists, but it is globex's: acme's order cannot point at it.
    /// let refused = OrderRepo::new(&pool).insert(&acme, NewOrder { id: 1, customer_id: 7 }).await;
    /// assert!(matches!(refused, Err(Error::ForeignKey { table: "orders", .. })));
    /// # Ok(())
    /// # }
    /// ```
    #[error(
        "{table}: the row refers to a parent this tenant does not have, or a parent still has children"
    )]
    ForeignKey {
        /// The table written to: the child's on an insert or update, the parent's on a delete.
        table: &'static str,
        /// The database's report.
        #[source]
        source: sqlx::Error,
    },
    /// A repository over a [`TenantTx`](crate::TenantTx) was called with the context of a
    /// tenant other than the one the transaction is bound to. Nothing was sent to the database:
    /// on SQLite, and in the tenant's own schema, the row would have landed among the bound
    /// tenant's data.
    ///
    /// ```
    /// # use tenant::{tenant_scoped, Plan, TenantCtx, TenantId};
    /// # use tenant::sqlx::{Error, TenantTx};
    /// # #[tenant_scoped(table = "notes")]
    /// # pub struct Note { #[key] pub id: i64, #[tenant] pub tenant_id: TenantId, pub body: String }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let acme = TenantCtx::trusted("acme".parse()?, "tenant_acme".parse()?, Plan::Free);
    /// let globex = TenantCtx::trusted("globex".parse()?, "tenant_globex".parse()?, Plan::Free);
    /// let pool = sqlx::SqlitePool::connect("sqlite::memory:").await?;
    /// NoteRepo::new(&pool).create_table().await?;
    ///
    /// let mut tx = TenantTx::begin(&pool, &acme).await?;
    /// let refused = tx.repo::<Note>().insert(&globex, NewNote { id: 1, body: "x".into() }).await;
    /// assert!(matches!(refused, Err(Error::TenantMismatch { .. })));
    /// # Ok(())
    /// # }
    /// ```
    #[error("a transaction bound to tenant `{bound}` was given the context of tenant `{given}`")]
    TenantMismatch {
        /// The tenant the transaction is bound to.
        bound: tenant_core::TenantId,
        /// The tenant of the context the call was given.
        given: tenant_core::TenantId,
    },
    /// A [`RowSecurity`](crate::RowSecurity) key is not 32 to 64 bytes long.
    #[error("a row-level security key is {len} bytes long; 32 to 64 are required")]
    RowSecurityKey {
        /// The length given.
        len: usize,
    },
    /// The database refused the tenant credential of a
    /// [`RowSecurity`](crate::RowSecurity) transaction: the key installed in `tenant_rls.key`
    /// is not the application's (or none is), so the transaction was not begun.
    #[error(
        "the database refused the tenant credential: its row-level security key is not the application's"
    )]
    RowSecurityRefused,
    /// [`RowSecurity::install`](crate::RowSecurity::install) found no `tenant_rls` extension
    /// on the server (`pg_available_extensions`): build and install it from `tenant-sqlx/pg`
    /// (`make install`), or, where no C extension can be installed (managed PostgreSQL), use
    /// [`RowSecurity::install_plpgsql`](crate::RowSecurity::install_plpgsql).
    #[error(
        "the PostgreSQL server has no tenant_rls extension: `make install` it from tenant-sqlx/pg, or use RowSecurity::install_plpgsql"
    )]
    RowSecurityExtensionMissing,
    /// An index this entity needs has a name that already belongs to another table.
    #[error("index `{index}` already exists on table `{table}`")]
    IndexNameTaken {
        /// The index name.
        index: String,
        /// The table that has it.
        table: String,
    },
    /// An index this entity needs is not what has its name: another kind of relation has it (a
    /// table, a sequence, a view), or the index of that name is on other columns, not unique,
    /// partial or invalid. `CREATE INDEX IF NOT EXISTS` would skip ours silently, and with a
    /// `#[unique]` field its per-tenant uniqueness.
    ///
    /// ```
    /// # use tenant::{tenant_scoped, TenantId};
    /// # use tenant::sqlx::Error;
    /// #[tenant_scoped(table = "customers")]
    /// pub struct Customer { #[key] pub id: i64, #[tenant] pub tenant_id: TenantId, #[unique] pub email: String }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let pool = sqlx::SqlitePool::connect("sqlite::memory:").await?;
    /// // An index of the name, on the email alone and not unique: ours would have been skipped.
    /// sqlx::raw_sql(
    ///     "CREATE TABLE customers (id INTEGER, tenant_id TEXT, email TEXT, PRIMARY KEY (tenant_id, id)); \
    ///      CREATE INDEX t9_customers_email_key ON customers (email)",
    /// ).execute(&pool).await?;
    /// let clash = CustomerRepo::new(&pool).create_table().await;
    /// assert!(matches!(
    ///     clash,
    ///     Err(Error::IndexMismatch { ref found, .. }) if found == "an index on (email)"
    /// ));
    /// # Ok(())
    /// # }
    /// ```
    #[error("`{index}` is not the index table `{table}` needs ({expected}): it is {found}")]
    IndexMismatch {
        /// The index name.
        index: String,
        /// The entity's table.
        table: &'static str,
        /// The index it needs, e.g. `UNIQUE (tenant_id, number)`.
        expected: String,
        /// What has the name, e.g. `a sequence` or `an index on (number)`.
        found: String,
    },
    /// A [`Migration`](crate::Migration)'s description cannot be written into its file: it is
    /// empty, or holds a control character (a newline would end the file's first comment, and
    /// what follows would run as SQL when the migration is applied).
    ///
    /// ```
    /// # use tenant::sqlx::{Error, Migration};
    /// let injected = Migration::new("tables\nDROP TABLE tenants; --").sql::<sqlx::Sqlite>();
    /// assert!(matches!(injected, Err(Error::MigrationDescription { .. })));
    /// ```
    #[error("migration description {description:?} {reason}")]
    MigrationDescription {
        /// The description as given.
        description: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The database does not enforce tenant isolation (see `IsolationAudit`): every finding.
    #[cfg(feature = "postgres")]
    #[error("{0}")]
    Isolation(crate::audit::rules::Findings),
    /// `TenantSchema::create` or `drop` was given a schema it did not create: one without its
    /// marker (`TenantSchema::MARKER`), or owned by a role other than the current one. Nothing
    /// was changed.
    #[cfg(feature = "postgres")]
    #[error(
        "schema `{schema}` exists but was not created by TenantSchema (no marker, or another \
         role owns it): refusing to adopt or drop it"
    )]
    ForeignSchema {
        /// The schema.
        schema: tenant_core::SchemaName,
    },
    /// `TenantSchema::drop` found objects it does not know in the schema (or depending on its
    /// tables from elsewhere), which a `RESTRICT` drop would not remove and a `CASCADE` would
    /// have removed silently. Nothing was dropped: deal with them, or declare the tables a
    /// migration creates with `TenantSchema::table`.
    #[cfg(feature = "postgres")]
    #[error(
        "schema `{schema}` holds objects TenantSchema does not know, so it was not dropped: {}",
        objects.join(", ")
    )]
    SchemaNotEmpty {
        /// The schema.
        schema: tenant_core::SchemaName,
        /// Each object as `kind name` (`view totals`), or the database's message when what is
        /// in the way is outside the schema.
        objects: Vec<String>,
    },
    /// A list of [`TenantMigrations`](crate::TenantMigrations) that cannot run: no worker, a
    /// version used twice or not positive, a description that is not one line, a tenant listed
    /// twice. Nothing was run.
    ///
    /// ```
    /// # use tenant::ProvisionCtx;
    /// # use tenant::sqlx::{Error, TenantMigrations};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let provision = ProvisionCtx::new("deploy")?;
    /// let twice = TenantMigrations::new().step(1, "a", "SELECT 1").step(1, "b", "SELECT 2");
    /// let refused = twice.run(&provision, Vec::new()).await;
    /// assert!(matches!(refused, Err(Error::MigrationPlan { .. })));
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(feature = "postgres")]
    #[error("tenant migrations cannot run: {reason}")]
    MigrationPlan {
        /// What is wrong with the list.
        reason: String,
    },
    /// A tenant's record says migration `version` was applied with other SQL than the list
    /// has now: the schema is not what the list assumes. Nothing more was run there; restore
    /// the applied SQL in the list, or repair the tenant's schema and its record by hand.
    #[cfg(feature = "postgres")]
    #[error("migration {version} {description:?} was applied with different SQL than it has now")]
    MigrationChanged {
        /// The migration's version.
        version: i64,
        /// Its description in the list.
        description: String,
    },
    /// A tenant's record holds migration `version`, which the list does not have (a newer
    /// release migrated it, or the list lost one). Nothing was run there.
    #[cfg(feature = "postgres")]
    #[error("migration {version} is recorded in the schema but is not in the list")]
    MigrationUnknown {
        /// The recorded version.
        version: i64,
    },
    /// A tenant's schema does not exist (create it with `TenantSchema::create` first).
    #[cfg(feature = "postgres")]
    #[error("schema `{schema}` does not exist")]
    SchemaAbsent {
        /// The schema.
        schema: tenant_core::SchemaName,
    },
    /// Tenants that did not reach the latest migration ([`MigrationReport::ensure`]), each
    /// with its migration and error.
    ///
    /// [`MigrationReport::ensure`]: crate::MigrationReport::ensure
    #[cfg(feature = "postgres")]
    #[error(
        "{} tenant(s) failed to migrate: {}",
        failed.len(),
        failed.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
    )]
    Migrations {
        /// Each failed tenant, sorted by tenant.
        failed: Vec<crate::TenantFailure>,
    },
    /// The backend cannot do what was asked (row-level security on SQLite).
    #[error("{what} is not supported on {backend}")]
    Unsupported {
        /// What was asked.
        what: &'static str,
        /// The backend's name.
        backend: &'static str,
    },
    /// The database this tenant-bound transaction began on does not hold the tenant: its
    /// placement table has no row for it (the tenant moved away, or the route is stale). Nothing
    /// ran. Retryable: [`PoolSet::begin`](crate::PoolSet::begin) has already told its
    /// `on_moved` hooks (a registry cache drops the tenant's entry), so verifying the claim
    /// again gives the new placement, and a retry runs there.
    #[error(
        "tenant `{tenant}` is not placed in this database: its placement changed; verify again and retry"
    )]
    Moved {
        /// The tenant of the transaction.
        tenant: tenant_core::TenantId,
    },
    /// The tenant is fenced for a move: its database refuses its transactions until the move
    /// lifts the fence. Nothing ran. Retryable after a moment; the HTTP layer answers `503`
    /// with `Retry-After` (`tenant::http::Problem::retry_later`).
    #[error("tenant `{tenant}` is fenced while it moves; retry later")]
    Fenced {
        /// The tenant of the transaction.
        tenant: tenant_core::TenantId,
    },
    /// A move's fence ([`PlacementFence::fence`](crate::PlacementFence::fence)) set the flag,
    /// then waited longer than its bound
    /// ([`with_drain_timeout`](crate::PlacementFence::with_drain_timeout)) for the transactions
    /// that were running in the database when the flag was committed (on PostgreSQL every
    /// transaction of the database, not only the tenant's, and every prepared one). The tenant
    /// stays fenced: its new transactions are refused. Retryable: fencing again (idempotent)
    /// waits again, for what is running then.
    #[error(
        "the fence of tenant `{tenant}` is set, but {running} transaction(s) that began before it were still running after {waited_ms} ms; retry the fence"
    )]
    DrainTimeout {
        /// The tenant being fenced.
        tenant: tenant_core::TenantId,
        /// How many of the transactions waited for were still running (or prepared).
        running: usize,
        /// How long the drain waited, in milliseconds.
        waited_ms: u64,
    },
    /// A move's copy ([`TenantCopy::copy`](crate::TenantCopy::copy)) found, in its transaction
    /// at the target, that the target does not hold the tenant fenced (for
    /// [`copy_for_move`](crate::TenantCopy::copy_for_move): by that move): the move lifted the
    /// fence (it switched, and the tenant writes there now), forgot the tenant (it was
    /// aborted), or a later move holds it. A copy that outlived its step runs late; nothing was written. Not retryable:
    /// the move is past its copy.
    #[error(
        "the copy of tenant `{tenant}` was refused: the target does not hold it fenced for a move; nothing was written"
    )]
    CopyNotFenced {
        /// The tenant being copied.
        tenant: tenant_core::TenantId,
    },
    /// A step of [`TenantCopy`](crate::TenantCopy) (copy, sums, delete) ran as a role under
    /// row-level security (the tables' owner under `FORCE ROW LEVEL SECURITY`, or a role without
    /// `BYPASSRLS`): the policy would have hidden the tenant's rows from it, so a move would have
    /// copied and verified none of them and left them behind. PostgreSQL refused the statement
    /// (the step runs with `row_security` off); nothing was written. Not retryable: run the move
    /// as a role row-level security does not apply to.
    #[error(
        "a tenant copy ran under row-level security, which would hide the tenant's rows from it; nothing was written: run the move as a role with BYPASSRLS (or the tables' owner without FORCE ROW LEVEL SECURITY)"
    )]
    CopyUnderRowSecurity(#[source] sqlx::Error),
    /// A context's placement names a database the [`PoolSet`](crate::PoolSet) was not
    /// configured with.
    #[error("no database is configured with the label `{label}`")]
    UnknownDatabase {
        /// The placement's database label.
        label: tenant_core::DatabaseLabel,
    },
    /// The pool set's configuration (`TENANT_DATABASES`, `DATABASE_URL`) could not be read.
    /// Names the entry by position and label only: a URL may hold a password.
    #[error("database configuration: {reason}")]
    DatabasesConfig {
        /// What is wrong, without any URL.
        reason: String,
    },
    /// Writing a file failed (a migration).
    #[error("i/o error")]
    Io(#[source] std::io::Error),
    /// PostgreSQL refused a row under a row-level security policy (SQLSTATE `42501`, "new row
    /// violates row-level security policy"): a write outside a tenant-bound transaction with the
    /// tenant setting (on the plain pool rather than a [`TenantPool`](crate::TenantPool)'s
    /// transaction, or one begun without [`RowSecurity`](crate::RowSecurity)), or of a row of
    /// another tenant in raw SQL. Nothing was written. A bug of the service, not of the
    /// request: the HTTP layer answers `500` with the class `row-security-violation`. Another
    /// `42501` (a missing `GRANT`) stays [`Database`](Self::Database).
    #[error("the database refused the row under its row-level security policy")]
    RowSecurityViolation(#[source] sqlx::Error),
    /// The database reported an error. Shown as sqlx's error (which says it came from the
    /// database), not with it again as its source.
    #[error(transparent)]
    Database(sqlx::Error),
    /// A statement ran past its `statement_timeout` and PostgreSQL cancelled it (SQLSTATE
    /// `57014`, `query_canceled`; also what `pg_cancel_backend` causes). The transaction is
    /// aborted; the budget of the tenant's plan ([`DbBudget`](crate::DbBudget)) sets the
    /// timeout in the BEGIN round trip.
    #[error("the statement was cancelled: it ran past the plan's statement timeout")]
    StatementTimeout(#[source] sqlx::Error),
    /// A page cursor was refused (altered, or minted for another tenant, order or filter, or
    /// under another key), or a cursor key could not be made.
    #[error(transparent)]
    Cursor(#[from] crate::repo::cursor::CursorError),
    /// A core value was invalid (a tenant id, a schema name, a reason...).
    #[error(transparent)]
    Core(#[from] tenant_core::Error),
}

impl Error {
    /// Whether the same call may succeed if tried again: [`Moved`](Self::Moved) (after the
    /// route is refreshed), [`Fenced`](Self::Fenced) (after the move) and
    /// [`DrainTimeout`](Self::DrainTimeout) (once the older transactions have ended).
    ///
    /// ```
    /// use tenant::sqlx::Error;
    ///
    /// assert!(Error::Fenced { tenant: "acme".parse()? }.is_retryable());
    /// assert!(!Error::EmptyPatch.is_retryable());
    /// # Ok::<(), tenant::TenantIdError>(())
    /// ```
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Error::Moved { .. } | Error::Fenced { .. } | Error::DrainTimeout { .. }
        )
    }

    /// Classifies a database error of a write to `table`.
    pub(crate) fn from_write(table: &'static str, source: sqlx::Error) -> Self {
        match &source {
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                Error::Conflict { table, source }
            }
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
                Error::ForeignKey { table, source }
            }
            _ => source.into(),
        }
    }
}

/// Every database error, classified: a cancelled statement (SQLSTATE `57014`) is
/// [`Error::StatementTimeout`], a row refused by a row-level security policy
/// [`Error::RowSecurityViolation`], the rest [`Error::Database`].
impl From<sqlx::Error> for Error {
    fn from(error: sqlx::Error) -> Self {
        let db = error.as_database_error();
        match db.and_then(|db| db.code()).as_deref() {
            Some("57014") => Error::StatementTimeout(error),
            // 42501 is also "permission denied"; PostgreSQL tells the policy's refusal apart only
            // in its message (which `lc_messages` may translate: then it stays `Database`).
            Some("42501") if db.is_some_and(|db| db.message().contains("row-level security")) => {
                Error::RowSecurityViolation(error)
            }
            _ => Error::Database(error),
        }
    }
}

/// So that `"acme".parse()?` works where this error is returned.
impl From<tenant_core::TenantIdError> for Error {
    fn from(error: tenant_core::TenantIdError) -> Self {
        Error::Core(error.into())
    }
}

impl From<tenant_core::SchemaNameError> for Error {
    fn from(error: tenant_core::SchemaNameError) -> Self {
        Error::Core(error.into())
    }
}

#[cfg(test)]
mod tests {
    use super::Error;
    use std::error::Error as _;

    /// A cause is shown once in a chain printed as anyhow prints it: in the message or as the
    /// source, not in both.
    #[test]
    fn causes_are_shown_once() {
        let err = Error::from(sqlx::Error::RowNotFound);
        assert_eq!(err.to_string(), sqlx::Error::RowNotFound.to_string());
        assert!(err.source().is_none());

        let io = std::io::Error::other("disk full");
        let err = Error::Io(io);
        assert_eq!(err.to_string(), "i/o error");
        assert_eq!(err.source().unwrap().to_string(), "disk full");
    }
}
