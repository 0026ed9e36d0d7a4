//! [`TenantSchema`]: a schema per tenant on PostgreSQL, created with its tables and migrations,
//! and dropped at offboarding.

use sqlx::{AssertSqlSafe, PgPool};

use tenant_core::{SchemaName, SystemCtx};

use crate::error::Error;
use crate::repo::{Dialect, Entity, EntityMeta, creation_order};

/// The tables and migrations every tenant's schema holds, for a schema per tenant on
/// PostgreSQL: [`create`](Self::create) makes a tenant's schema with all of them,
/// [`drop`](Self::drop) removes it. Both take a [`SystemCtx`] (they are not any one tenant's
/// data operations) and are audited.
///
/// Work in a tenant's schema runs in [`TenantTx::begin_in_schema`](crate::TenantTx::begin_in_schema).
///
/// ```no_run
/// # use tenant::{tenant_scoped, SystemCtx, TenantCtx, TenantId};
/// # use tenant::sqlx::{TenantSchema, TenantTx};
/// # #[tenant_scoped(table = "invoices")]
/// # pub struct Invoice { #[key] pub id: i64, #[tenant] pub tenant_id: TenantId, pub total: i64 }
/// # async fn demo(pool: sqlx::PgPool, acme: TenantCtx) -> Result<(), Box<dyn std::error::Error>> {
/// let schema = TenantSchema::new()
///     .entity::<Invoice>()
///     .migration("CREATE TABLE notes (tenant_id TEXT NOT NULL, body TEXT NOT NULL)");
/// let sys = SystemCtx::new("provision tenant")?;
/// schema.create(&sys, &pool, acme.schema_name()).await?;
///
/// let mut tx = TenantTx::begin_in_schema(&pool, &acme).await?;
/// tx.repo::<Invoice>().insert(&acme, NewInvoice { id: 1, total: 5 }).await?;
/// tx.commit().await?;
///
/// schema.drop(&sys, &pool, acme.schema_name()).await?; // offboarding
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Default, Clone)]
pub struct TenantSchema {
    ddl: Vec<(&'static EntityMeta, &'static [String])>,
    migrations: Vec<String>,
}

impl TenantSchema {
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
    /// unqualified). The SQL is the application's, run as written.
    pub fn migration(mut self, sql: impl Into<String>) -> Self {
        self.migrations.push(sql.into());
        self
    }

    /// Creates `schema` (if absent) with every table and migration, in one transaction: a
    /// failing migration leaves no half-made schema behind. Run again on an existing schema,
    /// the entity tables are skipped (`IF NOT EXISTS`) and the migrations run again as written.
    pub async fn create(
        &self,
        sys: &SystemCtx,
        pool: &PgPool,
        schema: &SchemaName,
    ) -> Result<(), Error> {
        sys.audit("create_schema", "schema");
        let mut tx = pool.begin().await?;
        // `SchemaName` is `[a-z0-9_]`, not reserved: a plain identifier.
        let name = schema.as_str();
        sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA IF NOT EXISTS {name}")))
            .execute(&mut *tx)
            .await?;
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

    /// Drops `schema` and everything in it (offboarding). Other tenants' schemas are untouched.
    pub async fn drop(
        &self,
        sys: &SystemCtx,
        pool: &PgPool,
        schema: &SchemaName,
    ) -> Result<(), Error> {
        sys.audit("drop_schema", "schema");
        sqlx::query(AssertSqlSafe(format!(
            "DROP SCHEMA IF EXISTS {} CASCADE",
            schema.as_str()
        )))
        .execute(pool)
        .await?;
        Ok(())
    }
}
