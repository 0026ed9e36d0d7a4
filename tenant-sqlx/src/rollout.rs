//! [`TenantMigrations`]: the application's versioned migrations, run over every tenant's schema
//! and database in parallel, each tenant's progress recorded in its own schema.

mod report;

use std::collections::{BTreeMap, HashSet};
use std::time::Instant;

use futures_util::StreamExt as _;
use sha2::{Digest as _, Sha256};
use sqlx::postgres::PgConnection;
use sqlx::{AssertSqlSafe, PgPool, Postgres, Row as _, Transaction};

use tenant_core::{Provisioning, SchemaName, Tenant, TenantId};

use crate::error::Error;
use crate::schema::{Ownership, RECORD_TABLE, TenantSchema};

pub use report::{MigrationReport, TenantFailure, TenantMigrated};

/// Where one tenant's tables are: a pool on the database that holds them (a shared server, or
/// the tenant's own database) and the schema in it. [`TenantMigrations::run`] takes a list of
/// them, so whatever decides a tenant's placement only has to say, per tenant, which pool and
/// which schema.
///
/// ```no_run
/// # use tenant::sqlx::MigrationTarget;
/// # fn demo(shared: sqlx::PgPool, own_database: sqlx::PgPool) -> Result<(), Box<dyn std::error::Error>> {
/// let targets = vec![
///     MigrationTarget::new("acme".parse()?, shared.clone(), "tenant_acme".parse()?),
///     MigrationTarget::new("globex".parse()?, own_database, "tenant_globex".parse()?),
/// ];
/// # let _ = targets;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct MigrationTarget {
    tenant: TenantId,
    pool: PgPool,
    schema: SchemaName,
}

impl MigrationTarget {
    /// `tenant`'s tables, in `schema` of the database `pool` connects to. The schema must have
    /// been made by [`TenantSchema::create`](crate::TenantSchema::create) (it carries its
    /// marker): a run refuses any other for that tenant.
    pub fn new(tenant: TenantId, pool: PgPool, schema: SchemaName) -> Self {
        MigrationTarget {
            tenant,
            pool,
            schema,
        }
    }

    /// A registry record's tenant, in its schema, on `pool`.
    ///
    /// ```no_run
    /// # use tenant::TenantRegistry;
    /// # use tenant::sqlx::{MigrationTarget, SqlRegistry};
    /// # async fn demo(registry: SqlRegistry<sqlx::Postgres>, pool: sqlx::PgPool) -> Result<(), Box<dyn std::error::Error>> {
    /// let acme = registry.find_by_id(&"acme".parse()?).await?.expect("registered");
    /// let target = MigrationTarget::of(&acme, pool);
    /// assert_eq!(target.schema().as_str(), acme.schema_name.as_str());
    /// # Ok(())
    /// # }
    /// ```
    pub fn of(tenant: &Tenant, pool: PgPool) -> Self {
        Self::new(tenant.id.clone(), pool, tenant.schema_name.clone())
    }

    /// The tenant.
    pub fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    /// The schema that holds its tables.
    pub fn schema(&self) -> &SchemaName {
        &self.schema
    }
}

#[derive(Debug, Clone)]
struct Step {
    version: i64,
    description: String,
    sql: String,
    checksum: [u8; 32],
}

/// The application's migrations for a tenant's schema, each with a version, applied in order of
/// version to every tenant [`MigrationTarget`] by [`run`](Self::run), with at most
/// [`workers`](Self::workers) tenants at a time.
///
/// - **A record per tenant, in the tenant's schema**: the table [`tenant_migrations`]
///   (version, description, SHA-256 of the SQL, when). Each migration runs in a transaction of
///   its own, with the tenant's schema as the search path, and its record is written in that
///   same transaction: the record says exactly what the schema holds, whatever failed or was
///   killed, and it moves with the schema when the tenant moves.
/// - **One failing tenant does not stop the others**: its failure (tenant, schema, migration,
///   the database's error) is in the [`MigrationReport`], its later migrations are not tried,
///   and every other tenant goes on.
/// - **A rerun resumes**: applied migrations are skipped (their SQL is not run again), failed
///   ones are tried again. A migration whose SQL changed since it was applied to a tenant, or
///   a recorded version this list does not have, is that tenant's failure, not run over.
/// - **Two runners at once** (two deploys, a deploy and an operator) apply each migration once:
///   each transaction takes a transaction-scoped advisory lock on the tenant's schema and reads
///   the record again under it; the second runner waits, then finds the work done.
/// - **Progress** goes to `tracing`: the run's start and end (`INFO`), each tenant finished
///   (`INFO`, with its count so far) or failed (`WARN`), each migration applied (`DEBUG`).
///
/// Changing a schema is provisioning: `run` takes a [`ProvisionCtx`](tenant_core::ProvisionCtx)
/// and audits each tenant's schema on `tenant::audit`.
///
/// ```no_run
/// # use tenant::ProvisionCtx;
/// # use tenant::sqlx::{MigrationTarget, TenantMigrations};
/// # async fn demo(targets: Vec<MigrationTarget>) -> Result<(), Box<dyn std::error::Error>> {
/// let migrations = TenantMigrations::new()
///     .step(1, "notes", "CREATE TABLE notes (id BIGINT PRIMARY KEY, body TEXT NOT NULL)")
///     .step(2, "notes are never empty", "ALTER TABLE notes ADD CHECK (body <> '')")
///     .workers(4);
/// let provision = ProvisionCtx::new("deploy: tenant migrations")?;
/// let report = migrations.run(&provision, targets).await?;
/// for failure in &report.failed {
///     eprintln!("{failure}"); // tenant, schema, migration and the database's error
/// }
/// report.ensure()?; // an error naming every failed tenant, if any
/// # Ok(())
/// # }
/// ```
///
/// [`tenant_migrations`]: Self::RECORD_TABLE
#[derive(Debug, Clone)]
pub struct TenantMigrations {
    steps: Vec<Step>,
    workers: usize,
}

impl Default for TenantMigrations {
    fn default() -> Self {
        Self::new()
    }
}

impl TenantMigrations {
    /// The table in each tenant's schema that records its applied migrations.
    ///
    /// ```
    /// assert_eq!(tenant::sqlx::TenantMigrations::RECORD_TABLE, "tenant_migrations");
    /// ```
    pub const RECORD_TABLE: &'static str = RECORD_TABLE;

    /// No migrations yet, one worker.
    pub fn new() -> Self {
        TenantMigrations {
            steps: Vec::new(),
            workers: 1,
        }
    }

    /// Adds migration `version`, the application's SQL run as written (one or more statements)
    /// with the tenant's schema as the search path: write table names unqualified. Versions run
    /// in increasing order, whatever the order added; each must be positive and used once, and
    /// the description one line of text ([`run`](Self::run) refuses the list otherwise, with
    /// [`Error::MigrationPlan`]). A migration must not end its transaction itself (`COMMIT`),
    /// nor change the search path: its record is written after it, in the same transaction,
    /// to the tenant's schema found by that path.
    ///
    /// The tables of `#[tenant_scoped]` entities come from
    /// [`Migration::sql`](crate::Migration::sql):
    ///
    /// ```
    /// # use tenant::{tenant_scoped, TenantId};
    /// # use tenant::sqlx::{Migration, TenantMigrations};
    /// # #[tenant_scoped(table = "invoices")]
    /// # pub struct Invoice { #[key] pub id: i64, #[tenant] pub tenant_id: TenantId, pub total: i64 }
    /// let invoices = Migration::new("invoices").entity::<Invoice>().sql::<sqlx::Postgres>()?;
    /// let migrations = TenantMigrations::new()
    ///     .step(1, "invoices", invoices)
    ///     .step(2, "invoice notes", "ALTER TABLE invoices ADD COLUMN note TEXT");
    /// assert_eq!(migrations.versions(), vec![1, 2]);
    /// # Ok::<(), tenant::sqlx::Error>(())
    /// ```
    pub fn step(
        mut self,
        version: i64,
        description: impl Into<String>,
        sql: impl Into<String>,
    ) -> Self {
        let sql = sql.into();
        let checksum = Sha256::digest(sql.as_bytes()).into();
        self.steps.push(Step {
            version,
            description: description.into(),
            sql,
            checksum,
        });
        self
    }

    /// How many tenants are migrated at once (default 1). Each worker holds one connection of
    /// its tenant's pool while it works: give a pool at least as many connections as workers,
    /// or they wait for each other. Zero is refused by [`run`](Self::run).
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = workers;
        self
    }

    /// The versions, in the order they run.
    pub fn versions(&self) -> Vec<i64> {
        let mut versions: Vec<i64> = self.steps.iter().map(|s| s.version).collect();
        versions.sort_unstable();
        versions
    }

    /// Applies every migration a target has not recorded yet, to every target, at most
    /// [`workers`](Self::workers) targets at a time, and reports each tenant: the version it
    /// reached and what was applied, or what failed.
    ///
    /// `Err` only when nothing was run: the list is invalid ([`Error::MigrationPlan`]: no
    /// worker, a version used twice or not positive, a description that is not one line, a
    /// tenant listed twice). Everything that goes wrong for one tenant (its schema missing or
    /// not made by `TenantSchema`, a migration's error, a lost connection) is that tenant's
    /// [`TenantFailure`] in the report, and the run goes on;
    /// [`MigrationReport::ensure`] turns failures into an error.
    pub async fn run(
        &self,
        provision: &dyn Provisioning,
        targets: impl IntoIterator<Item = MigrationTarget>,
    ) -> Result<MigrationReport, Error> {
        let targets: Vec<MigrationTarget> = targets.into_iter().collect();
        let steps = self.checked(&targets)?;
        let total = targets.len();
        let started = Instant::now();
        tracing::info!(
            tenants = total,
            workers = self.workers,
            migrations = steps.len(),
            latest = steps.last().map(|s| s.version),
            "tenant migrations: started"
        );
        let provision = provision.provision_ctx();
        let mut finished = 0usize;
        let mut report = MigrationReport::default();
        let mut outcomes = futures_util::stream::iter(targets.iter())
            .map(|target| {
                provision.audit("migrate_schema", target.schema.as_str());
                migrate_one(&steps, target)
            })
            .buffer_unordered(self.workers);
        while let Some(outcome) = outcomes.next().await {
            finished += 1;
            match outcome {
                Ok(done) => {
                    tracing::info!(
                        tenant = %done.tenant,
                        schema = %done.schema,
                        version = done.version,
                        applied = done.applied.len(),
                        finished,
                        total,
                        "tenant migrations: tenant done"
                    );
                    report.migrated.push(done);
                }
                Err(failure) => {
                    tracing::warn!(
                        tenant = %failure.tenant,
                        schema = %failure.schema,
                        migration = failure.migration,
                        version = failure.version,
                        error = %failure.error,
                        finished,
                        total,
                        "tenant migrations: tenant failed"
                    );
                    report.failed.push(failure);
                }
            }
        }
        tracing::info!(
            migrated = report.migrated.len(),
            failed = report.failed.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "tenant migrations: finished"
        );
        report.sort();
        Ok(report)
    }

    /// The steps in order of version, or why the list cannot run.
    fn checked(&self, targets: &[MigrationTarget]) -> Result<Vec<Step>, Error> {
        let plan = |reason: String| Err(Error::MigrationPlan { reason });
        if self.workers == 0 {
            return plan("zero workers: at least one is needed".into());
        }
        let mut steps = self.steps.clone();
        steps.sort_by_key(|s| s.version);
        for pair in steps.windows(2) {
            if pair[0].version == pair[1].version {
                return plan(format!("version {} is used twice", pair[0].version));
            }
        }
        for step in &steps {
            if step.version <= 0 {
                return plan(format!(
                    "version {} is not positive (versions start at 1)",
                    step.version
                ));
            }
            if step.description.trim().is_empty() || step.description.chars().any(char::is_control)
            {
                return plan(format!(
                    "migration {}'s description {:?} is not one line of text",
                    step.version, step.description
                ));
            }
        }
        let mut seen = HashSet::new();
        for target in targets {
            if !seen.insert(&target.tenant) {
                return plan(format!("tenant `{}` is listed twice", target.tenant));
            }
        }
        Ok(steps)
    }
}

/// One tenant. The first transaction takes the lock, checks the schema, reads the record and,
/// if a migration is missing, applies the first one: the common case (one new migration) is one
/// transaction. Each further migration gets a transaction of its own, which reads its record
/// again under the lock (another runner may have applied it between two transactions).
async fn migrate_one(
    steps: &[Step],
    target: &MigrationTarget,
) -> Result<TenantMigrated, TenantFailure> {
    let fail = |step: Option<&Step>, error: Error, version: Option<i64>| TenantFailure {
        tenant: target.tenant.clone(),
        schema: target.schema.clone(),
        migration: step.map(|s| s.version),
        description: step.map(|s| s.description.clone()),
        version,
        error,
    };
    let (first, recorded) = open(target).await.map_err(|e| fail(None, e, None))?;
    let mut version = recorded.keys().next_back().copied();
    // What is recorded must be what this list says: a changed or unknown migration means the
    // tenant's schema is not what the list assumes, and nothing more is run over it.
    for (&recorded_version, checksum) in &recorded {
        let error = match steps.iter().find(|s| s.version == recorded_version) {
            None => Error::MigrationUnknown {
                version: recorded_version,
            },
            Some(step) if step.checksum[..] != checksum[..] => changed(step),
            Some(_) => continue,
        };
        return Err(fail(None, error, version));
    }
    let mut first = Some(first);
    let mut applied = Vec::new();
    for step in steps.iter().filter(|s| !recorded.contains_key(&s.version)) {
        let mut tx = match first.take() {
            Some(tx) => tx,
            None => match again(target, step)
                .await
                .map_err(|e| fail(Some(step), e, version))?
            {
                Some(tx) => tx,
                None => {
                    // Another runner applied it meanwhile.
                    version = version.max(Some(step.version));
                    continue;
                }
            },
        };
        let started = Instant::now();
        apply(&mut tx, step)
            .await
            .map_err(|e| fail(Some(step), e, version))?;
        tx.commit()
            .await
            .map_err(|e| fail(Some(step), e.into(), version))?;
        tracing::debug!(
            tenant = %target.tenant,
            schema = %target.schema,
            version = step.version,
            description = step.description,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "tenant migrations: migration applied"
        );
        applied.push(step.version);
        version = version.max(Some(step.version));
    }
    if let Some(tx) = first {
        // Nothing was missing: the transaction only read (and perhaps made the record table).
        tx.commit()
            .await
            .map_err(|e| fail(None, e.into(), version))?;
    }
    Ok(TenantMigrated {
        tenant: target.tenant.clone(),
        schema: target.schema.clone(),
        version,
        applied,
    })
}

fn changed(step: &Step) -> Error {
    Error::MigrationChanged {
        version: step.version,
        description: step.description.clone(),
    }
}

/// Begins the tenant's first transaction: the lock, the search path, the schema checked as
/// `TenantSchema`'s, its record table made if absent, and read: version to checksum.
async fn open(
    target: &MigrationTarget,
) -> Result<(Transaction<'static, Postgres>, BTreeMap<i64, Vec<u8>>), Error> {
    let mut tx = target.pool.begin().await?;
    match enter(&mut tx, &target.schema).await? {
        Ownership::Ours => {}
        Ownership::Absent => {
            return Err(Error::SchemaAbsent {
                schema: target.schema.clone(),
            });
        }
        Ownership::Foreign => {
            return Err(Error::ForeignSchema {
                schema: target.schema.clone(),
            });
        }
    }
    // Unqualified, in the tenant's schema (the search path's first), under the lock, so two
    // runners never race to create it. One simple query, one round trip: nothing is bound.
    let rows = sqlx::raw_sql(AssertSqlSafe(format!(
        "CREATE TABLE IF NOT EXISTS {RECORD_TABLE} (\
         version BIGINT PRIMARY KEY, \
         description TEXT NOT NULL, \
         checksum BYTEA NOT NULL, \
         applied_at TIMESTAMPTZ NOT NULL DEFAULT now());\n\
         SELECT version, checksum FROM {RECORD_TABLE}"
    )))
    .fetch_all(&mut *tx)
    .await?;
    let recorded = rows
        .iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
        .collect::<Result<_, Error>>()?;
    Ok((tx, recorded))
}

/// A transaction for a later migration, or `None` when, under the lock, its record shows
/// another runner applied it (with the same SQL; other SQL is [`Error::MigrationChanged`]).
async fn again(
    target: &MigrationTarget,
    step: &Step,
) -> Result<Option<Transaction<'static, Postgres>>, Error> {
    let mut tx = target.pool.begin().await?;
    // The schema was checked in the first transaction; a schema dropped since makes the
    // statements below fail, which is this tenant's failure.
    enter(&mut tx, &target.schema).await?;
    // The record's statements name its table unqualified, resolved in the tenant's schema by
    // the search path: the same text for every tenant, so each connection prepares them once
    // (one statement per schema would be parsed anew for each tenant and crowd the cache).
    let done: Option<Vec<u8>> = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT checksum FROM {RECORD_TABLE} WHERE version = $1"
    )))
    .bind(step.version)
    .fetch_optional(&mut *tx)
    .await?;
    match done {
        None => Ok(Some(tx)),
        Some(checksum) if checksum[..] == step.checksum[..] => Ok(None),
        Some(_) => Err(changed(step)),
    }
}

/// Runs `step` and writes its record, in the caller's transaction.
async fn apply(conn: &mut PgConnection, step: &Step) -> Result<(), Error> {
    sqlx::raw_sql(AssertSqlSafe(step.sql.as_str()))
        .execute(&mut *conn)
        .await?;
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO {RECORD_TABLE} (version, description, checksum) VALUES ($1, $2, $3)"
    )))
    .bind(step.version)
    .bind(&step.description)
    .bind(&step.checksum[..])
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// In one round trip: takes the advisory lock that serializes every runner's work on `schema`
/// in this database (advisory locks are per database) until the transaction ends (nothing to
/// release after a crash; a hash collision between two schemas only makes them wait for each
/// other); makes `schema` the search path, `pg_temp` named last as `TenantSchema` and
/// `TenantTx::begin_in_schema` do (a temporary table left on the pooled connection cannot stand
/// in for one of the tenant's); and says whose the schema is, as `TenantSchema` decides it (its
/// marker, and owned by the current role). The lock is taken in the subquery, which PostgreSQL
/// runs before the outer select list (a volatile function keeps it from being flattened).
async fn enter(conn: &mut PgConnection, schema: &SchemaName) -> Result<Ownership, Error> {
    let ours: Option<bool> = sqlx::query_scalar(
        "SELECT (SELECT pg_catalog.obj_description(n.oid, 'pg_namespace') \
                        IS NOT DISTINCT FROM $3 \
                    AND n.nspowner = (SELECT r.oid FROM pg_catalog.pg_roles r \
                                       WHERE r.rolname = current_user) \
                   FROM pg_catalog.pg_namespace n WHERE n.nspname = $4) \
           FROM (SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended($1, 0)), \
                        pg_catalog.set_config('search_path', $2, true)) AS entered",
    )
    .bind(format!("tenant-sqlx migrations: {}", schema.as_str()))
    .bind(format!("{}, pg_temp", schema.as_str()))
    .bind(TenantSchema::MARKER)
    .bind(schema.as_str())
    .fetch_one(&mut *conn)
    .await?;
    Ok(match ours {
        None => Ownership::Absent,
        Some(true) => Ownership::Ours,
        Some(false) => Ownership::Foreign,
    })
}
