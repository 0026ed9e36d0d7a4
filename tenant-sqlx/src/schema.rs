//! [`TenantSchema`]: a schema per tenant on PostgreSQL, created with its tables and migrations,
//! and dropped at offboarding.

use sqlx::postgres::PgConnection;
use sqlx::{AssertSqlSafe, PgPool};

use tenant_core::{Provisioning, SchemaName};

use crate::error::Error;
use crate::repo::{Dialect, Entity, EntityMeta, creation_order};

/// The tables and migrations every tenant's schema holds, for a schema per tenant on
/// PostgreSQL: [`create`](Self::create) makes a tenant's schema with all of them,
/// [`drop`](Self::drop) removes it. Both take a
/// [`ProvisionCtx`](tenant_core::ProvisionCtx) (they change the database's
/// structure, which a cross-tenant read capability, a `SystemCtx`, does not allow) and are
/// audited.
///
/// Only schemas it created are its own. `create` marks a schema it creates with the comment
/// [`MARKER`](Self::MARKER), in the same transaction; an existing schema is adopted (its
/// migrations run again) only when it carries the marker *and* is owned by the role running
/// `create`: anything else is [`Error::ForeignSchema`], so the tenant's tables never land
/// beside objects nobody reviewed, in a schema someone else controls. `drop` refuses the same
/// schemas, then drops the tables it knows (the entities' and those declared with
/// [`table`](Self::table)) and the schema `RESTRICT`: an object it does not know (a view, a table
/// added by hand) is [`Error::SchemaNotEmpty`], naming it, and nothing is dropped.
///
/// Work in a tenant's schema runs in [`TenantTx::begin_in_schema`](crate::TenantTx::begin_in_schema).
///
/// ```no_run
/// # use tenant::{tenant_scoped, ProvisionCtx, TenantCtx, TenantId};
/// # use tenant::sqlx::{TenantSchema, TenantTx};
/// # #[tenant_scoped(table = "invoices")]
/// # pub struct Invoice { #[key] pub id: i64, #[tenant] pub tenant_id: TenantId, pub total: i64 }
/// # async fn demo(pool: sqlx::PgPool, acme: TenantCtx) -> Result<(), Box<dyn std::error::Error>> {
/// let schema = TenantSchema::new()
///     .entity::<Invoice>()
///     .migration("CREATE TABLE notes (tenant_id TEXT NOT NULL, body TEXT NOT NULL)")
///     .table("notes");
/// let provision = ProvisionCtx::new("provision tenant")?;
/// schema.create(&provision, &pool, acme.schema_name()).await?;
///
/// let mut tx = TenantTx::begin_in_schema(&pool, &acme).await?;
/// tx.repo::<Invoice>().insert(&acme, NewInvoice { id: 1, total: 5 }).await?;
/// tx.commit().await?;
///
/// schema.drop(&provision, &pool, acme.schema_name()).await?; // offboarding
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Default, Clone)]
pub struct TenantSchema {
    ddl: Vec<(&'static EntityMeta, &'static [String])>,
    migrations: Vec<String>,
    /// Tables the migrations create, dropped before the entities' (they may refer to them).
    tables: Vec<String>,
}

impl TenantSchema {
    /// The comment [`create`](Self::create) puts on a schema it creates, and without which no
    /// existing schema is adopted or dropped. A schema made before this marker existed can be
    /// adopted, after a review of what it holds, by an operator:
    /// `COMMENT ON SCHEMA tenant_acme IS 'tenant-sqlx: TenantSchema'` as the role that runs
    /// provisioning, which must own it.
    ///
    /// ```
    /// assert_eq!(tenant::sqlx::TenantSchema::MARKER, "tenant-sqlx: TenantSchema");
    /// ```
    pub const MARKER: &'static str = "tenant-sqlx: TenantSchema";

    /// A schema with no tables yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `E`'s table and indexes. [`create`](Self::create) creates a `#[belongs_to]`
    /// parent's table before its children's, whatever the order they were added in; otherwise
    /// tables come in the order added.
    pub fn entity<E: Entity>(mut self) -> Self {
        self.ddl
            .push((E::META, E::statements().ddl(E::META, Dialect::Postgres)));
        self
    }

    /// Adds one of the application's own migrations, run after the entities' tables, in the
    /// order added, with the tenant's schema as the search path (write table names
    /// unqualified). The SQL is the application's, run as written. Declare each table it
    /// creates with [`table`](Self::table), or [`drop`](Self::drop) will refuse the schema.
    pub fn migration(mut self, sql: impl Into<String>) -> Self {
        self.migrations.push(sql.into());
        self
    }

    /// Declares a table one of the [`migration`](Self::migration)s creates, by its name in the
    /// catalog (lower case for an unquoted name), so that [`drop`](Self::drop) drops it (with
    /// its indexes, constraints and owned sequences). Declared tables are dropped in the reverse
    /// of the order declared, before the entities' tables. Other kinds of objects (views,
    /// functions, types) are not dropped for you: [`drop`](Self::drop) names them in
    /// [`Error::SchemaNotEmpty`].
    ///
    /// ```
    /// let schema = tenant::sqlx::TenantSchema::new()
    ///     .migration("CREATE TABLE notes (id BIGINT PRIMARY KEY)")
    ///     .table("notes");
    /// # let _ = schema;
    /// ```
    pub fn table(mut self, name: impl Into<String>) -> Self {
        self.tables.push(name.into());
        self
    }

    /// Creates `schema` with every table and migration, in one transaction: a failing
    /// migration leaves no half-made schema behind. A schema that does not exist is created and
    /// marked ([`MARKER`](Self::MARKER)). One that exists is adopted only if it is marked and
    /// owned by the current role, then its entity tables are skipped (`IF NOT EXISTS`) and the
    /// migrations run again as written; otherwise [`Error::ForeignSchema`], and nothing is
    /// changed.
    pub async fn create(
        &self,
        provision: &dyn Provisioning,
        pool: &PgPool,
        schema: &SchemaName,
    ) -> Result<(), Error> {
        provision
            .provision_ctx()
            .audit("create_schema", schema.as_str());
        let mut tx = pool.begin().await?;
        // `SchemaName` is `[a-z0-9_]`, not reserved: a plain identifier.
        let name = schema.as_str();
        match ownership(&mut tx, schema).await? {
            Ownership::Absent => {
                sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA {name}")))
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(AssertSqlSafe(format!(
                    "COMMENT ON SCHEMA {name} IS {}",
                    quote_literal(Self::MARKER)
                )))
                .execute(&mut *tx)
                .await?;
            }
            Ownership::Ours => {}
            Ownership::Foreign => return Err(foreign(schema)),
        }
        sqlx::query("SELECT set_config('search_path', $1, true)")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        let metas: Vec<&EntityMeta> = self.ddl.iter().map(|(meta, _)| *meta).collect();
        let ordered = creation_order(&metas).into_iter().map(|i| self.ddl[i].1);
        for statement in ordered.flat_map(|ddl| ddl.iter()) {
            sqlx::query(AssertSqlSafe(statement.as_str()))
                .execute(&mut *tx)
                .await?;
        }
        for migration in &self.migrations {
            sqlx::raw_sql(AssertSqlSafe(migration.as_str()))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Creates every table and runs every migration in the connection's default schema (the
    /// search path as configured), in one transaction: a database of the tenant's own, where
    /// its tables need no schema of their own (the tier `database`). Entity tables that exist
    /// are skipped (`IF NOT EXISTS`); the migrations run again as written, so write them to be
    /// run again.
    ///
    /// ```no_run
    /// # use tenant::{ProvisionCtx, TenantId, tenant_scoped};
    /// # #[tenant_scoped(table = "notes")]
    /// # pub struct Note { #[key] pub id: i64, #[tenant] pub tenant_id: TenantId }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let own = sqlx::PgPool::connect("postgres://localhost/acme").await?;
    /// let provision = ProvisionCtx::new("move acme to its own database")?;
    /// tenant::sqlx::TenantSchema::new().entity::<Note>().install(&provision, &own).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn install(&self, provision: &dyn Provisioning, pool: &PgPool) -> Result<(), Error> {
        provision
            .provision_ctx()
            .audit("install_tables", "default schema");
        let mut tx = pool.begin().await?;
        let metas: Vec<&EntityMeta> = self.ddl.iter().map(|(meta, _)| *meta).collect();
        let ordered = creation_order(&metas).into_iter().map(|i| self.ddl[i].1);
        for statement in ordered.flat_map(|ddl| ddl.iter()) {
            sqlx::query(AssertSqlSafe(statement.as_str()))
                .execute(&mut *tx)
                .await?;
        }
        for migration in &self.migrations {
            sqlx::raw_sql(AssertSqlSafe(migration.as_str()))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Drops `schema` (offboarding), in one transaction: the record of
    /// [`TenantMigrations`](crate::TenantMigrations), the declared
    /// [`table`](Self::table)s, the entities' tables (children before parents), then the schema
    /// `RESTRICT`. Other tenants' schemas are untouched, and an absent schema is no error.
    ///
    /// Refused, with nothing dropped: a schema [`create`](Self::create) did not make
    /// ([`Error::ForeignSchema`]), and one that holds anything else, or whose tables something
    /// else depends on ([`Error::SchemaNotEmpty`], naming the objects): what this
    /// `TenantSchema` does not know is never dropped in passing by a `CASCADE`.
    pub async fn drop(
        &self,
        provision: &dyn Provisioning,
        pool: &PgPool,
        schema: &SchemaName,
    ) -> Result<(), Error> {
        provision
            .provision_ctx()
            .audit("drop_schema", schema.as_str());
        let mut tx = pool.begin().await?;
        match ownership(&mut tx, schema).await? {
            Ownership::Absent => return Ok(()),
            Ownership::Ours => {}
            Ownership::Foreign => return Err(foreign(schema)),
        }
        let name = schema.as_str();
        let metas: Vec<&EntityMeta> = self.ddl.iter().map(|(meta, _)| *meta).collect();
        let entity_tables = creation_order(&metas)
            .into_iter()
            .rev()
            .map(|i| self.ddl[i].0.table);
        // `TenantMigrations`' record of the schema goes with it (first: nothing refers to it).
        let known: Vec<&str> = std::iter::once(RECORD_TABLE)
            .chain(self.tables.iter().rev().map(String::as_str))
            .chain(entity_tables)
            .collect();
        let mut statements: Vec<String> = known
            .iter()
            .map(|table| {
                format!(
                    "DROP TABLE IF EXISTS {name}.{} RESTRICT",
                    quote_ident(table)
                )
            })
            .collect();
        statements.push(format!("DROP SCHEMA {name} RESTRICT"));

        // A savepoint, so that after a refusal the schema can still be read to say why.
        sqlx::query("SAVEPOINT tenant_schema_drop")
            .execute(&mut *tx)
            .await?;
        for statement in &statements {
            let dropped = sqlx::query(AssertSqlSafe(statement.as_str()))
                .execute(&mut *tx)
                .await;
            let Err(error) = dropped else { continue };
            // 2BP01 dependent_objects_still_exist: something we do not know is in the way.
            let detail = match error.as_database_error() {
                Some(db) if db.code().as_deref() == Some("2BP01") => db.message().to_owned(),
                _ => return Err(error.into()),
            };
            sqlx::query("ROLLBACK TO SAVEPOINT tenant_schema_drop")
                .execute(&mut *tx)
                .await?;
            let mut objects = unknown_objects(&mut tx, schema, &known).await?;
            if objects.is_empty() {
                // The dependent object is elsewhere (a view in another schema over a table).
                objects.push(detail);
            }
            return Err(Error::SchemaNotEmpty {
                schema: schema.clone(),
                objects,
            });
        }
        tx.commit().await?;
        Ok(())
    }
}

/// Whose a schema is.
pub(crate) enum Ownership {
    Absent,
    /// Marked by [`TenantSchema::create`] and owned by the current role.
    Ours,
    Foreign,
}

pub(crate) async fn ownership(
    conn: &mut PgConnection,
    schema: &SchemaName,
) -> Result<Ownership, Error> {
    let row: Option<(bool,)> = sqlx::query_as(
        "SELECT obj_description(n.oid, 'pg_namespace') IS NOT DISTINCT FROM $2 \
                AND n.nspowner = (SELECT oid FROM pg_roles WHERE rolname = current_user) \
         FROM pg_namespace n WHERE n.nspname = $1",
    )
    .bind(schema.as_str())
    .bind(TenantSchema::MARKER)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(match row {
        None => Ownership::Absent,
        Some((true,)) => Ownership::Ours,
        Some((false,)) => Ownership::Foreign,
    })
}

fn foreign(schema: &SchemaName) -> Error {
    Error::ForeignSchema {
        schema: schema.clone(),
    }
}

/// What `schema` holds besides the `known` tables and what goes with them (their indexes,
/// row types, owned sequences): `kind name`, sorted.
async fn unknown_objects(
    conn: &mut PgConnection,
    schema: &SchemaName,
    known: &[&str],
) -> Result<Vec<String>, Error> {
    let known: Vec<String> = known.iter().map(|table| (*table).to_owned()).collect();
    let objects: Vec<String> = sqlx::query_scalar(
        "SELECT kind || ' ' || name FROM ( \
           SELECT CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'table' \
                  WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' \
                  WHEN 'S' THEN 'sequence' WHEN 'f' THEN 'foreign table' \
                  WHEN 'c' THEN 'type' ELSE 'relation' END AS kind, \
                  c.relname::text AS name \
             FROM pg_class c \
            WHERE c.relnamespace = $1::text::regnamespace AND c.relkind NOT IN ('i', 'I', 't') \
              AND NOT (c.relkind = 'S' AND EXISTS (SELECT 1 FROM pg_depend d \
                       WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid \
                         AND d.deptype IN ('a', 'i'))) \
           UNION ALL \
           SELECT 'function', p.proname::text FROM pg_proc p \
            WHERE p.pronamespace = $1::text::regnamespace \
           UNION ALL \
           SELECT 'type', t.typname::text FROM pg_type t \
            WHERE t.typnamespace = $1::text::regnamespace AND t.typrelid = 0 \
              AND t.typcategory <> 'A' \
         ) o \
         WHERE NOT (kind = 'table' AND name = ANY($2)) \
         ORDER BY name, kind",
    )
    .bind(schema.as_str())
    .bind(&known)
    .fetch_all(&mut *conn)
    .await?;
    Ok(objects)
}

/// `name` as a quoted identifier: any text, `"` doubled.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `text` as a standard string literal: `'` doubled (no backslash escapes in a standard
/// string, which PostgreSQL's default `standard_conforming_strings` makes them).
fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The table, in each tenant's schema, that records the migrations
/// [`TenantMigrations`](crate::TenantMigrations) applied there. It lives beside the tables it
/// describes so that a migration and its record commit in one transaction and move with the
/// schema; [`TenantSchema::drop`] drops it with them.
pub(crate) const RECORD_TABLE: &str = "tenant_migrations";
