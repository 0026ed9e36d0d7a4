//! [`IsolationAudit`]: checks, against PostgreSQL's catalog, that the database enforces what the
//! types promise, and fails closed when it does not.

pub(crate) mod rules;
#[cfg(test)]
mod tests;

use sqlx::postgres::PgConnection;
use sqlx::{PgPool, Row};

use crate::error::Error;
use crate::repo::rls::{EXTENSION_SETTING, RLS_SCHEMA, TENANT_SETTING};
use crate::repo::{Entity, EntityMeta};
pub(crate) use rules::{
    ExpectedForeignKey, ForeignKeyFacts, Membership, PolicyFacts, RoleFacts, TableFacts, ViewFacts,
    findings,
};
pub use rules::{Finding, Findings};

/// Checks that PostgreSQL enforces tenant isolation for a set of entities, as the role the pool
/// connects with. Run it at startup (refuse to serve on a finding) and in CI.
///
/// For the role, it checks that it is not a superuser and has no BYPASSRLS, and is not a member
/// (directly or through other roles) of a role that is; that the tenant setting has no value
/// outside a transaction (`ALTER ROLE .. SET`, `ALTER DATABASE .. SET`, or the connection's own
/// startup options); and that it may not create temporary tables in the database (they have no
/// row-level security and can shadow tenant tables). For each entity's table in the search path,
/// it checks that it exists; that it has row-level security enabled and forced (an owner
/// bypasses an unforced policy) and is not owned by the role or a role it is a member of (an
/// owner can un-force it); that it has a policy for all commands whose USING and WITH CHECK are
/// `tenant = (SELECT tenant_rls.current_tenant())` (see `RowSecurity`) and no other permissive policy (those are
/// ORed, and one `USING (true)` opens every tenant's rows); that each `#[belongs_to]` field has
/// its validated foreign key `(tenant, field) REFERENCES parent (tenant, key)`; and that no view
/// naming it (unless `security_invoker`), no materialized view over it, and no `SECURITY
/// DEFINER` function reading it is owned by a superuser or BYPASSRLS role (they run with their
/// owner's rights, for whoever may query them or a view over them). An audit given no entity
/// fails. All findings come back at once, each a [`Finding`] naming the object.
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
    credential_in_query_text: bool,
}

impl IsolationAudit {
    /// An audit of no table yet. Add every tenant table with [`entity`](Self::entity): an
    /// audit of none is a [`Finding::NoEntities`], so a forgotten call cannot pass for a check.
    ///
    /// ```no_run
    /// # use tenant::sqlx::{Finding, IsolationAudit};
    /// # async fn start(pool: sqlx::PgPool) -> Result<(), tenant::sqlx::Error> {
    /// let found = IsolationAudit::new().findings(&pool).await?;
    /// assert!(found.contains(&Finding::NoEntities));
    /// # Ok(())
    /// # }
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `E`'s table.
    pub fn entity<E: Entity>(mut self) -> Self {
        self.tables.push(E::META);
        self
    }

    /// Declares how the application begins its [`RowSecurity`](crate::RowSecurity)
    /// transactions. Unless it takes [`two_round_trips`](crate::RowSecurity::two_round_trips),
    /// it writes text credentials into BEGIN where the role's sessions hide their query texts,
    /// and the audit also checks that the role's sessions in this database agree on it:
    /// [`Finding::QueryTextsVisible`] when some publish their texts while others hide them (a
    /// superuser changed `track_activities` since some logged in).
    ///
    /// ```no_run
    /// # use tenant::{tenant_scoped, TenantId};
    /// # use tenant::sqlx::{IsolationAudit, RowSecurity};
    /// # #[tenant_scoped(table = "invoices")]
    /// # pub struct Invoice { #[key] pub id: i64, #[tenant] pub tenant_id: TenantId, pub total: i64 }
    /// # async fn start(pool: sqlx::PgPool, key: &[u8]) -> Result<(), tenant::sqlx::Error> {
    /// let rls = RowSecurity::new(key)?;
    /// IsolationAudit::new()
    ///     .entity::<Invoice>()
    ///     .row_security(&rls)
    ///     .ensure(&pool)
    ///     .await?; // fails while the role's sessions disagree on `track_activities`
    /// # Ok(())
    /// # }
    /// ```
    pub fn row_security(mut self, rls: &crate::RowSecurity) -> Self {
        self.credential_in_query_text = !rls.is_two_round_trips();
        self
    }

    /// Every finding, empty when the database enforces isolation for these tables.
    pub async fn findings(&self, pool: &PgPool) -> Result<Vec<Finding>, Error> {
        let mut conn = pool.acquire().await?;
        let mut role = role_facts(&mut conn).await?;
        role.credential_in_query_text = self.credential_in_query_text;
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
            let row: Option<(bool, bool, String)> = sqlx::query_as(
                "SELECT relrowsecurity, relforcerowsecurity, pg_get_userbyid(relowner)::text \
                 FROM pg_class WHERE oid = to_regclass($1)",
            )
            .bind(&quoted)
            .fetch_optional(&mut *conn)
            .await?;
            let facts = match row {
                None => None,
                Some((rls, forced, owner)) => {
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
                    let views = view_facts(&mut conn, &quoted).await?;
                    let definer_functions =
                        definer_functions(&mut conn, &quoted, meta.table).await?;
                    Some(TableFacts {
                        rls,
                        forced,
                        owner,
                        policies,
                        foreign_keys,
                        views,
                        definer_functions,
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

/// The connected role: its attributes, every role it is a member of (recursively, with whether
/// `SET ROLE` is granted along the path: `pg_auth_members.set_option` from PostgreSQL 16, always
/// before), its TEMP privilege, and where the tenant setting has a value outside a transaction.
async fn role_facts(conn: &mut PgConnection) -> Result<RoleFacts, Error> {
    let (name, superuser, bypass_rls, version): (String, bool, bool, i32) = sqlx::query_as(
        "SELECT rolname::text, rolsuper, rolbypassrls, \
                current_setting('server_version_num')::int \
         FROM pg_roles WHERE rolname = current_user",
    )
    .fetch_one(&mut *conn)
    .await?;
    // The column exists from PostgreSQL 16 on; naming it before would be an error.
    let set_option = if version >= 160_000 {
        "a.set_option"
    } else {
        "true"
    };
    let memberships = sqlx::query(sqlx::AssertSqlSafe(format!(
        "WITH RECURSIVE m(roleid, path, can_set) AS ( \
           SELECT a.roleid, ARRAY[current_user::text, r.rolname::text], {set_option} \
           FROM pg_auth_members AS a JOIN pg_roles AS r ON r.oid = a.roleid \
           WHERE a.member = (SELECT oid FROM pg_roles WHERE rolname = current_user) \
           UNION ALL \
           SELECT a.roleid, m.path || r.rolname::text, m.can_set AND {set_option} \
           FROM pg_auth_members AS a \
           JOIN m ON a.member = m.roleid \
           JOIN pg_roles AS r ON r.oid = a.roleid \
           WHERE NOT r.rolname::text = ANY (m.path) \
         ) \
         SELECT DISTINCT ON (r.rolname) r.rolname::text, r.rolsuper, r.rolbypassrls, \
                m.path, m.can_set \
         FROM m JOIN pg_roles AS r ON r.oid = m.roleid \
         ORDER BY r.rolname, m.can_set DESC, cardinality(m.path)"
    )))
    .try_map(|row: sqlx::postgres::PgRow| {
        Ok(Membership {
            role: row.try_get(0)?,
            superuser: row.try_get(1)?,
            bypass_rls: row.try_get(2)?,
            path: row.try_get(3)?,
            can_set_role: row.try_get(4)?,
        })
    })
    .fetch_all(&mut *conn)
    .await?;
    let (temp, database): (bool, String) = sqlx::query_as(
        "SELECT has_database_privilege(current_database(), 'TEMPORARY'), current_database()::text",
    )
    .fetch_one(&mut *conn)
    .await?;
    // The defaults that apply when this role logs in to this database: for the role in the
    // database, for the role, for the database (`ALTER .. SET`), and the connection's own value
    // (a startup option). The setting's name is compared as PostgreSQL does, without case.
    let tenant_defaults = setting_defaults(conn, TENANT_SETTING).await?;
    let extension_defaults = setting_defaults(conn, EXTENSION_SETTING).await?;
    let rls_owners = rls_owners(conn).await?;
    let unreserved_setting = unreserved_setting(conn).await?;
    // `track_activities` is superuser-only and taken at login, so the role's sessions in this
    // database disagree only when a superuser changed it since some of them logged in: a
    // session that hides its texts shows the state `disabled` to the others of its role.
    let query_texts_mixed: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity AS a \
           WHERE a.usename OPERATOR(pg_catalog.=) session_user \
             AND a.datname OPERATOR(pg_catalog.=) current_database() \
             AND a.backend_type OPERATOR(pg_catalog.=) 'client backend' \
             AND (a.state OPERATOR(pg_catalog.=) 'disabled') \
                 OPERATOR(pg_catalog.=) current_setting('track_activities')::bool)",
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(RoleFacts {
        name,
        superuser,
        bypass_rls,
        memberships,
        temp: temp.then_some(database),
        tenant_defaults,
        extension_defaults,
        rls_owners,
        unreserved_setting,
        credential_in_query_text: false,
        query_texts_mixed,
    })
}

/// The objects of the `tenant_rls` schema (itself, its relations, its functions) and their
/// owners.
async fn rls_owners(conn: &mut PgConnection) -> Result<Vec<(String, String)>, Error> {
    Ok(sqlx::query_as(
        "SELECT format('schema %I', n.nspname), pg_get_userbyid(n.nspowner)::text \
         FROM pg_namespace AS n WHERE n.nspname = $1 \
         UNION ALL \
         SELECT format('table %s', c.oid::regclass), pg_get_userbyid(c.relowner)::text \
         FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace \
         WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'f') \
         UNION ALL \
         SELECT format('function %s', p.oid::regprocedure), pg_get_userbyid(p.proowner)::text \
         FROM pg_proc AS p JOIN pg_namespace AS n ON n.oid = p.pronamespace WHERE n.nspname = $1 \
         ORDER BY 1",
    )
    .bind(RLS_SCHEMA)
    .fetch_all(&mut *conn)
    .await?)
}

/// With the C extension's version installed (its `native_current_tenant` exists), the context
/// of its setting once the library is loaded, unless it is `superuser`. Loading it is what a
/// policy does on a tenant table's first statement in a session.
async fn unreserved_setting(conn: &mut PgConnection) -> Result<Option<String>, Error> {
    let installed: bool = sqlx::query_scalar(
        "SELECT to_regprocedure('tenant_rls.native_current_tenant()') IS NOT NULL \
           AND has_function_privilege('tenant_rls.native_current_tenant()', 'EXECUTE')",
    )
    .fetch_one(&mut *conn)
    .await?;
    if !installed {
        return Ok(None);
    }
    sqlx::query("SELECT tenant_rls.native_current_tenant()")
        .execute(&mut *conn)
        .await?;
    let context: Option<String> =
        sqlx::query_scalar("SELECT context::text FROM pg_catalog.pg_settings WHERE name = $1")
            .bind(EXTENSION_SETTING)
            .fetch_optional(&mut *conn)
            .await?;
    Ok(match context {
        Some(context) if context == "superuser" => None,
        Some(context) => Some(context),
        None => Some("missing".to_owned()),
    })
}

/// Where `setting` has a value outside a transaction, for this role in this database.
async fn setting_defaults(conn: &mut PgConnection, setting: &str) -> Result<Vec<String>, Error> {
    let mut tenant_defaults: Vec<String> = sqlx::query_scalar(
        "SELECT CASE \
                  WHEN s.setrole <> 0 AND s.setdatabase <> 0 \
                    THEN format('ALTER ROLE %I IN DATABASE %I SET', r.rolname, d.datname) \
                  WHEN s.setrole <> 0 THEN format('ALTER ROLE %I SET', r.rolname) \
                  ELSE format('ALTER DATABASE %I SET', d.datname) \
                END \
         FROM pg_db_role_setting AS s \
         LEFT JOIN pg_roles AS r ON r.oid = s.setrole \
         LEFT JOIN pg_database AS d ON d.oid = s.setdatabase \
         WHERE s.setrole IN (0, (SELECT oid FROM pg_roles WHERE rolname = session_user)) \
           AND s.setdatabase IN \
               (0, (SELECT oid FROM pg_database WHERE datname = current_database())) \
           AND EXISTS (SELECT 1 FROM unnest(s.setconfig) AS c \
                       WHERE lower(split_part(c, '=', 1)) = lower($1)) \
         ORDER BY s.setrole DESC, s.setdatabase DESC",
    )
    .bind(setting)
    .fetch_all(&mut *conn)
    .await?;
    let current: Option<String> = sqlx::query_scalar("SELECT current_setting($1, true)")
        .bind(setting)
        .fetch_one(&mut *conn)
        .await?;
    if current.is_some_and(|value| !value.is_empty()) {
        tenant_defaults.push("this connection, outside a transaction".into());
    }
    Ok(tenant_defaults)
}

/// The views and materialized views that read `table` (its name quoted for `to_regclass`),
/// directly or through other views: `pg_depend` links a view's rewrite rule to what it reads.
/// `direct` says whether the view names the table itself: a view's own rights reach only the
/// relations it names (what it reads through another view is that view's business), but a
/// materialized view is refreshed as its owner, through every view below it.
async fn view_facts(conn: &mut PgConnection, table: &str) -> Result<Vec<ViewFacts>, Error> {
    let views = sqlx::query(
        "WITH RECURSIVE over(oid, direct) AS ( \
           SELECT r.ev_class, true FROM pg_depend AS d JOIN pg_rewrite AS r ON r.oid = d.objid \
           WHERE d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass \
             AND d.refobjid = to_regclass($1) AND r.ev_class <> d.refobjid \
           UNION \
           SELECT r.ev_class, false FROM pg_depend AS d \
           JOIN pg_rewrite AS r ON r.oid = d.objid \
           JOIN over ON d.refobjid = over.oid \
           WHERE d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass \
             AND r.ev_class <> d.refobjid \
         ), one AS ( \
           SELECT DISTINCT ON (oid) oid, direct FROM over ORDER BY oid, direct DESC \
         ) \
         SELECT c.oid::regclass::text, c.relkind = 'm', one.direct, o.rolname::text, \
                o.rolsuper OR o.rolbypassrls, coalesce(c.reloptions, '{}')::text[] \
         FROM one JOIN pg_class AS c ON c.oid = one.oid \
         JOIN pg_roles AS o ON o.oid = c.relowner \
         WHERE c.relkind IN ('v', 'm') \
         ORDER BY 1",
    )
    .bind(table)
    .try_map(|row: sqlx::postgres::PgRow| {
        Ok(ViewFacts {
            name: row.try_get(0)?,
            materialized: row.try_get(1)?,
            direct: row.try_get(2)?,
            owner: row.try_get(3)?,
            owner_bypasses: row.try_get(4)?,
            options: row.try_get(5)?,
        })
    })
    .fetch_all(&mut *conn)
    .await?;
    Ok(views)
}

/// `SECURITY DEFINER` functions owned by a superuser or BYPASSRLS role that read `table`: by a
/// recorded dependency (SQL-standard bodies), or by its name in the body (PL/pgSQL and SQL
/// bodies record none). Whether the connected role may execute one is not asked: a view or
/// another function may call it for the role. `name` is a plain identifier (the macro checks
/// it), so it is safe in the pattern.
async fn definer_functions(
    conn: &mut PgConnection,
    quoted: &str,
    name: &str,
) -> Result<Vec<(String, String)>, Error> {
    let functions = sqlx::query_as(
        "SELECT p.oid::regprocedure::text, o.rolname::text \
         FROM pg_proc AS p JOIN pg_roles AS o ON o.oid = p.proowner \
         WHERE p.prosecdef AND (o.rolsuper OR o.rolbypassrls) \
           AND p.pronamespace NOT IN ('pg_catalog'::regnamespace, \
                                      'information_schema'::regnamespace) \
           AND (EXISTS (SELECT 1 FROM pg_depend AS d \
                        WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid \
                          AND d.refclassid = 'pg_class'::regclass \
                          AND d.refobjid = to_regclass($1)) \
                OR p.prosrc ~* ('\\m' || $2 || '\\M')) \
         ORDER BY 1",
    )
    .bind(quoted)
    .bind(name)
    .fetch_all(&mut *conn)
    .await?;
    Ok(functions)
}
