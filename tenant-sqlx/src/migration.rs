//! [`Migration`]: the DDL of a set of entities as a `sqlx migrate` file, for version control.

use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::repo::{
    Backend, Dialect, Entity, EntityMeta, creation_order, indexes, verify_index_sql,
};

/// The schema of a set of entities (tables, indexes and, on PostgreSQL, row-level security) as
/// one migration file that `sqlx migrate run` (or `sqlx::migrate!`) applies, so the schema lives
/// in version control and is reviewed like code, instead of being created at startup by
/// [`Repo::create_table`](crate::Repo::create_table).
///
/// ```
/// # use tenant::{tenant_scoped, TenantId};
/// # use tenant::sqlx::Migration;
/// # #[tenant_scoped(table = "invoices")]
/// # pub struct Invoice { #[key] pub id: i64, #[tenant] pub tenant_id: TenantId, pub total: i64 }
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let migration = Migration::new("tenant tables").entity::<Invoice>().row_level_security();
/// let sql = migration.sql::<sqlx::Postgres>()?;
/// assert!(sql.contains(r#"PRIMARY KEY ("tenant_id", "id")"#));
/// assert!(sql.contains("FORCE ROW LEVEL SECURITY"));
/// // SQLite has no row-level security: asking for it there is an error, not a silent skip.
/// assert!(migration.sql::<sqlx::Sqlite>().is_err());
///
/// let dir = std::env::temp_dir().join(format!("migrations-{}", std::process::id()));
/// let path = migration.write::<sqlx::Postgres>(&dir, 20261126000000)?;
/// assert!(path.ends_with("20261126000000_tenant_tables.sql"));
/// # std::fs::remove_dir_all(dir)?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Migration {
    description: String,
    entities: Vec<EntityDdl>,
    row_level_security: bool,
}

#[derive(Debug, Clone, Copy)]
struct EntityDdl {
    meta: &'static EntityMeta,
    ddl: fn(Dialect) -> &'static [String],
}

impl Migration {
    /// A migration described by `description` (it becomes the file name's second part, spaces
    /// as underscores, and the file's first comment). One line of text: [`sql`](Self::sql) and
    /// [`write`](Self::write) refuse an empty one or one with a control character.
    pub fn new(description: impl Into<String>) -> Self {
        Migration {
            description: description.into(),
            entities: Vec::new(),
            row_level_security: false,
        }
    }

    /// Adds `E`'s table and indexes. The file creates a `#[belongs_to]` parent's table before
    /// its children's, whatever the order the entities were added in (PostgreSQL refuses a
    /// foreign key to a table that does not exist yet); otherwise tables come in the order
    /// added. A parent that is not added is taken to exist already (an earlier migration).
    ///
    /// ```
    /// # use tenant::{tenant_scoped, TenantId};
    /// # use tenant::sqlx::Migration;
    /// # #[tenant_scoped(table = "customers")]
    /// # pub struct Customer { #[key] pub id: i64, #[tenant] pub tenant_id: TenantId }
    /// # #[tenant_scoped(table = "orders")]
    /// # pub struct Order { #[key] pub id: i64, #[tenant] pub tenant_id: TenantId, #[belongs_to(Customer)] pub customer_id: i64 }
    /// let sql = Migration::new("shop").entity::<Order>().entity::<Customer>().sql::<sqlx::Postgres>()?;
    /// let position = |table: &str| sql.find(&format!("CREATE TABLE IF NOT EXISTS \"{table}\""));
    /// assert!(position("customers").unwrap() < position("orders").unwrap());
    /// assert!(sql.contains(r#"FOREIGN KEY ("tenant_id", "customer_id") REFERENCES "customers" ("tenant_id", "id")"#));
    /// # Ok::<(), tenant::sqlx::Error>(())
    /// ```
    pub fn entity<E: Entity>(mut self) -> Self {
        self.entities.push(EntityDdl {
            meta: E::META,
            ddl: |dialect| E::statements().ddl(E::META, dialect),
        });
        self
    }

    /// Also enables and forces row-level security with the tenant policy on every table, as
    /// `Repo::row_level_security` does, after the `tenant_rls` schema and functions the
    /// policies call (`RowSecurity::install_ddl`: the `tenant_rls` C extension, which the server
    /// must have; where it cannot, replace that part with `RowSecurity::install_plpgsql_ddl`).
    /// PostgreSQL only. The key is not in the file: write it with `RowSecurity::install`, as
    /// the role that owns it.
    pub fn row_level_security(mut self) -> Self {
        self.row_level_security = true;
        self
    }

    /// The migration's SQL for `DB`, one statement per line group, each ending in `;`. On
    /// PostgreSQL each index is followed by a check that it exists as generated (`IF NOT EXISTS`
    /// skips an index whose name another relation has), which fails the migration if not. The
    /// description heads the file as an SQL comment: one that is empty or holds a control
    /// character (a newline, which would end the comment) is an [`Error::MigrationDescription`].
    pub fn sql<DB: Backend>(&self) -> Result<String, Error> {
        self.check_description()?;
        let dialect = DB::DIALECT;
        if self.row_level_security && dialect != Dialect::Postgres {
            return Err(Error::Unsupported {
                what: "row-level security",
                backend: DB::NAME,
            });
        }
        let mut sql = format!(
            "-- {}: generated by tenant-sqlx from #[tenant_scoped] entities.\n",
            self.description
        );
        if self.row_level_security {
            // The policies call `tenant_rls.current_tenant()`: its schema and functions come
            // first. The key is not in the file; `RowSecurity::install` writes it.
            sql.push_str("\n-- row-level security: tenant_rls (the key: RowSecurity::install)\n");
            for statement in rls_install() {
                sql.push_str(&statement);
                sql.push_str(";\n");
            }
        }
        let metas: Vec<&EntityMeta> = self.entities.iter().map(|e| e.meta).collect();
        for entity in creation_order(&metas)
            .into_iter()
            .map(|i| &self.entities[i])
        {
            sql.push_str(&format!("\n-- {}\n", entity.meta.table));
            for statement in (entity.ddl)(dialect) {
                sql.push_str(statement);
                sql.push_str(";\n");
            }
            // `IF NOT EXISTS` skips an index whose name another relation has: on PostgreSQL
            // the file checks each index, and the migration fails rather than apply without it.
            if dialect == Dialect::Postgres {
                for index in indexes(entity.meta, dialect) {
                    sql.push_str(&verify_index_sql(entity.meta, &index));
                    sql.push_str(";\n");
                }
            }
            if self.row_level_security {
                for statement in rls_statements(entity.meta) {
                    sql.push_str(&statement);
                    sql.push_str(";\n");
                }
            }
        }
        Ok(sql)
    }

    /// The description goes into a `--` comment, which a line break ends: refused, not escaped,
    /// so the file says what the caller wrote or nothing at all.
    fn check_description(&self) -> Result<(), Error> {
        let reason = if self.description.trim().is_empty() {
            "is empty"
        } else if self.description.chars().any(char::is_control) {
            "holds a control character (a line break would end the file's comment)"
        } else {
            return Ok(());
        };
        Err(Error::MigrationDescription {
            description: self.description.clone(),
            reason,
        })
    }

    /// Writes the migration for `DB` into `dir` (created if absent) as
    /// `<version>_<description>.sql`, the name `sqlx migrate` reads, and returns the path.
    pub fn write<DB: Backend>(
        &self,
        dir: impl AsRef<Path>,
        version: i64,
    ) -> Result<PathBuf, Error> {
        let sql = self.sql::<DB>()?;
        let name: String = self
            .description
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .collect();
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(Error::Io)?;
        let path = dir.join(format!("{version}_{name}.sql"));
        std::fs::write(&path, sql).map_err(Error::Io)?;
        Ok(path)
    }
}

#[cfg(feature = "postgres")]
fn rls_statements(meta: &EntityMeta) -> Vec<String> {
    crate::repo::rls::statements(meta)
}

#[cfg(feature = "postgres")]
fn rls_install() -> Vec<String> {
    crate::repo::rls::extension_install_statements()
}

// Never called: `sql` refuses row-level security before rendering for another backend.
#[cfg(not(feature = "postgres"))]
fn rls_statements(_: &EntityMeta) -> Vec<String> {
    Vec::new()
}

#[cfg(not(feature = "postgres"))]
fn rls_install() -> Vec<String> {
    Vec::new()
}
