//! [`IsolationAudit`]: checks, against PostgreSQL's catalog, that the database enforces what the
//! types promise, and fails closed when it does not.

pub(crate) mod rules;
#[cfg(test)]
mod tests;

use sqlx::PgPool;

use crate::error::Error;
use crate::repo::rls::RLS_SCHEMA;
use crate::repo::{Entity, EntityMeta};
pub(crate) use rules::{
    ExpectedForeignKey, ForeignKeyFacts, PolicyFacts, RoleFacts, TableFacts, findings,
};
pub use rules::{Finding, Findings};

/// Checks that PostgreSQL enforces tenant isolation for a set of entities, as the role the pool
/// connects with. Run it at startup (refuse to serve on a finding) and in CI.
///
/// It checks that the role is not a superuser and has no BYPASSRLS; and, for each entity's table
/// in the search path, that it exists, has row-level security enabled and forced (an owner
/// bypasses an unforced policy), has a policy for all commands whose USING and WITH CHECK are
/// `tenant = (SELECT tenant_rls.current_tenant())` (see `RowSecurity`), and has no other
/// permissive policy (those
/// are ORed, and one `USING (true)` opens every tenant's rows); and that each `#[belongs_to]`
/// field has its validated foreign key `(tenant, field) REFERENCES parent (tenant, key)`. All
/// findings come back at once.
///
/// ```no_run
/// # use tenant::{tenant_scoped, TenantId};
/// # use tenant::sqlx::IsolationAudit;
/// # #[tenant_scoped(table = "invoices")]
/// # pub struct Invoice { #[key] pub id: i64, #[tenant] pub tenant_id: TenantId, pub total: i64 }
/// # #[tenant_scoped(table = "customers")]
/// # pub struct Customer { #[key] pub id: i64, #[tenant] pub tenant_id: TenantId, pub name: String }
/// # async fn start(pool: sqlx::PgPool) -> Result<(), tenant::sqlx::Error> {
/// IsolationAudit::new()
///     .entity::<Invoice>()
///     .entity::<Customer>()
///     .ensure(&pool)
///     .await?; // Err(Error::Isolation(findings)) lists every problem
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Default, Clone)]
pub struct IsolationAudit {
    tables: Vec<&'static EntityMeta>,
}

impl IsolationAudit {
    /// An audit of no table yet: it checks the role alone.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `E`'s table.
    pub fn entity<E: Entity>(mut self) -> Self {
        self.tables.push(E::META);
        self
    }

    /// Every finding, empty when the database enforces isolation for these tables.
    pub async fn findings(&self, pool: &PgPool) -> Result<Vec<Finding>, Error> {
        let mut conn = pool.acquire().await?;
        let (name, superuser, bypass_rls): (String, bool, bool) = sqlx::query_as(
            "SELECT rolname::text, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user",
        )
        .fetch_one(&mut *conn)
        .await?;
        let role = RoleFacts {
            name,
            superuser,
            bypass_rls,
        };
        let mut tables = Vec::with_capacity(self.tables.len());
        for meta in &self.tables {
            // PostgreSQL's rendering of the expected predicate (`pg_get_expr` of the policy
            // `Repo::row_level_security` creates), the column quoted as it quotes identifiers.
            let expected: String = sqlx::query_scalar(
                "SELECT format('(%I = ( SELECT %s.current_tenant() AS current_tenant))', \
                 $1::text, $2::text)",
            )
            .bind(meta.tenant_column())
            .bind(RLS_SCHEMA)
            .fetch_one(&mut *conn)
            .await?;
            let quoted = format!("\"{}\"", meta.table);
            let row: Option<(bool, bool, bool)> = sqlx::query_as(
                "SELECT relrowsecurity, relforcerowsecurity, \
                        pg_get_userbyid(relowner) = current_user \
                 FROM pg_class WHERE oid = to_regclass($1)",
            )
            .bind(&quoted)
            .fetch_optional(&mut *conn)
            .await?;
            let facts = match row {
                None => None,
                Some((rls, forced, owned_by_current_role)) => {
                    let policies = sqlx::query(
                        "SELECT polname::text, polcmd::text, polpermissive, \
                                pg_get_expr(polqual, polrelid), \
                                pg_get_expr(polwithcheck, polrelid) \
                         FROM pg_policy WHERE polrelid = to_regclass($1) ORDER BY polname",
                    )
                    .bind(&quoted)
                    .try_map(|row: sqlx::postgres::PgRow| {
                        use sqlx::Row;
                        Ok(PolicyFacts {
                            name: row.try_get(0)?,
                            command: row.try_get(1)?,
                            permissive: row.try_get(2)?,
                            using: row.try_get(3)?,
                            with_check: row.try_get(4)?,
                        })
                    })
                    .fetch_all(&mut *conn)
                    .await?;
                    let foreign_keys = sqlx::query(
                        "SELECT c.confrelid::regclass::text, c.convalidated, \
                                ARRAY(SELECT a.attname::text \
                                      FROM unnest(c.conkey) WITH ORDINALITY AS k(attnum, n) \
                                      JOIN pg_attribute a \
                                        ON a.attrelid = c.conrelid AND a.attnum = k.attnum \
                                      ORDER BY k.n), \
                                ARRAY(SELECT a.attname::text \
                                      FROM unnest(c.confkey) WITH ORDINALITY AS k(attnum, n) \
                                      JOIN pg_attribute a \
                                        ON a.attrelid = c.confrelid AND a.attnum = k.attnum \
                                      ORDER BY k.n) \
                         FROM pg_constraint c \
                         WHERE c.contype = 'f' AND c.conrelid = to_regclass($1) \
                         ORDER BY c.conname",
                    )
                    .bind(&quoted)
                    .try_map(|row: sqlx::postgres::PgRow| {
                        use sqlx::Row;
                        Ok(ForeignKeyFacts {
                            references: row.try_get(0)?,
                            validated: row.try_get(1)?,
                            columns: row.try_get(2)?,
                            ref_columns: row.try_get(3)?,
                        })
                    })
                    .fetch_all(&mut *conn)
                    .await?;
                    Some(TableFacts {
                        rls,
                        forced,
                        owned_by_current_role,
                        policies,
                        foreign_keys,
                    })
                }
            };
            let mut wanted = Vec::new();
            for (column, parent) in meta.foreign_keys() {
                let parent_regclass: Option<String> =
                    sqlx::query_scalar("SELECT to_regclass($1)::text")
                        .bind(format!("\"{}\"", parent.table))
                        .fetch_one(&mut *conn)
                        .await?;
                wanted.push(ExpectedForeignKey {
                    columns: vec![meta.tenant_column(), column.name],
                    parent: parent.table,
                    parent_regclass,
                    ref_columns: vec![parent.tenant_column(), parent.key_column()],
                });
            }
            tables.push((meta.table, expected, wanted, facts));
        }
        Ok(findings(&role, &tables))
    }

    /// `Ok` when there are no findings, else [`Error::Isolation`] with all of them.
    pub async fn ensure(&self, pool: &PgPool) -> Result<(), Error> {
        let findings = self.findings(pool).await?;
        if findings.is_empty() {
            Ok(())
        } else {
            Err(Error::Isolation(Findings(findings)))
        }
    }
}
