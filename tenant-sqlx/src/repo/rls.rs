//! What row-level security on PostgreSQL is made of: the setting that carries a transaction's
//! tenant, the functions that set and verify it, the policy generated from an entity's
//! declaration, and the statement that begins a tenant-bound transaction. Below the backends,
//! [`TenantTx`](crate::TenantTx), [`RowSecurity`](crate::RowSecurity), the audit and
//! migrations, which all use it.

#[cfg(feature = "postgres")]
use super::meta::EntityMeta;

/// The PostgreSQL setting that carries a transaction's tenant for the PL/pgSQL version of
/// row-level security ([`RowSecurity::install_plpgsql`](crate::RowSecurity::install_plpgsql)).
///
/// Inside a transaction begun by [`RowSecurity::begin`](crate::RowSecurity::begin) it holds
/// `<tenant>:<tag>`, where the tag is an HMAC-SHA256, under a key only the functions of
/// [`RLS_SCHEMA`] can read, over the tenant, the backend's process id and the transaction's start
/// time. The policies of [`Repo::row_level_security`](crate::Repo::row_level_security) read it
/// only through `tenant_rls.current_tenant()`, which checks the tag: a value set by raw SQL, or
/// copied from another transaction, names no tenant. With the C extension
/// ([`RowSecurity::install`](crate::RowSecurity::install)) it holds the bare tenant, which no
/// policy reads: the verified tenant is then `tenant_rls.tenant`, which only a superuser, or
/// `tenant_rls.enter` for a credential it verified, can set.
pub const TENANT_SETTING: &str = "app.tenant_id";

/// The C extension's setting (`RowSecurity::install`): the transaction's verified tenant, which
/// only a superuser, or `tenant_rls.enter` for a credential it verified, can set.
#[cfg(feature = "postgres")]
pub(crate) const EXTENSION_SETTING: &str = "tenant_rls.tenant";

/// The schema of the key table and the two functions of row-level security
/// (`tenant_rls.enter`, `tenant_rls.current_tenant`), created by
/// [`RowSecurity::install`](crate::RowSecurity::install).
#[cfg(feature = "postgres")]
pub const RLS_SCHEMA: &str = "tenant_rls";

#[cfg(feature = "postgres")]
/// The name of the policy [`Repo::row_level_security`](crate::Repo::row_level_security) creates on every tenant table.
pub const TENANT_POLICY: &str = "tenant_isolation";

/// The policy's predicate: the row's tenant is the one the transaction's setting names and
/// proves. `(SELECT ..)` makes PostgreSQL evaluate the function once per statement (an
/// InitPlan), not once per row. Without a verified setting it is NULL, which equals no tenant:
/// the table shows nothing.
#[cfg(feature = "postgres")]
pub(crate) fn policy_predicate(meta: &EntityMeta) -> String {
    format!(
        "\"{}\" = (SELECT {RLS_SCHEMA}.current_tenant())",
        meta.tenant_column()
    )
}

/// ENABLE and FORCE row-level security, and the tenant policy for USING and WITH CHECK.
/// Identifiers are plain SQL identifiers (the macro checks them), quoted.
#[cfg(feature = "postgres")]
pub(crate) fn statements(meta: &EntityMeta) -> Vec<String> {
    let table = meta.table;
    let predicate = policy_predicate(meta);
    vec![
        format!("ALTER TABLE \"{table}\" ENABLE ROW LEVEL SECURITY"),
        // Without FORCE the table's owner is exempt, and applications often connect as it.
        format!("ALTER TABLE \"{table}\" FORCE ROW LEVEL SECURITY"),
        format!("DROP POLICY IF EXISTS {TENANT_POLICY} ON \"{table}\""),
        format!(
            "CREATE POLICY {TENANT_POLICY} ON \"{table}\" USING ({predicate}) WITH CHECK ({predicate})"
        ),
    ]
}

/// The simple query that begins every tenant-bound transaction on PostgreSQL, in one round trip:
///
/// - `RESET` of the tenant setting: a session-level `SET` that raw SQL of an earlier
///   transaction left on the pooled connection ends here (and, when this transaction commits,
///   for the session too);
/// - the search path, transaction-locally, with `pg_temp` named explicitly and **last**: unnamed,
///   PostgreSQL searches it first, and a temporary table (which no policy protects) left on the
///   connection would shadow the tenant's table. With `schema`, the path is that schema alone
///   (then `pg_temp`); without, the session's own schemas, any `pg_temp` among them removed.
#[cfg(feature = "postgres")]
pub(crate) fn begin_statement(schema: Option<&tenant_core::SchemaName>) -> String {
    Begin {
        schema,
        ..Begin::default()
    }
    .sql()
}

/// Everything a tenant-bound transaction does in its BEGIN round trip on PostgreSQL, rendered by
/// [`sql`](Self::sql) as one simple query with **one** `SELECT` (each statement of a simple
/// query is parsed, planned and run on its own, on every BEGIN): the session reset and search
/// path of [`begin_statement`], then, each when asked for, the placement fence, the tenant's
/// text credential ([`RowSecurity::begin`](crate::RowSecurity::begin) where the session hides its
/// query texts) and a plan's statement timeout ([`DbBudget`](crate::DbBudget)).
#[cfg(feature = "postgres")]
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Begin<'a> {
    /// The tenant's own schema as the search path; `None`: the session's, `pg_temp` last.
    pub(crate) schema: Option<&'a tenant_core::SchemaName>,
    /// The placement fence: `tenant_placement.enter(tenant, tier)`, the context's tier.
    pub(crate) fence: Option<(&'a tenant_core::TenantId, tenant_core::Tier)>,
    /// The fence calls the extension's C check by its own name, in its form that also sets the
    /// search path (`tenant_rls.placement_enter(tenant, tier, search_path)`, tenant_rls 1.3),
    /// instead of `set_config` and `tenant_placement.enter` over the check: the SQL wrapper is
    /// inlined when BEGIN's `SELECT` is planned, which on every BEGIN looks the wrapper up,
    /// parses its body and plans it again, as much as the check itself costs, and each call of
    /// the query is named and planned on every BEGIN.
    /// Only where the database's fence is that wrapper over the extension's function
    /// (`PlacementBackend::native_fence` checks, once per pool).
    pub(crate) native_fence: bool,
    /// `tenant_rls.enter_text(tenant, credential)`: the text credential written into the text.
    pub(crate) enter: Option<(&'a tenant_core::TenantId, &'a str)>,
    /// `statement_timeout` for the transaction, in milliseconds.
    pub(crate) statement_timeout_ms: Option<u32>,
}

#[cfg(feature = "postgres")]
impl Begin<'_> {
    /// The simple query. A check that can refuse (the fence, the credential) puts BEGIN
    /// **last**: PostgreSQL runs the statements before it as an implicit transaction, which
    /// BEGIN then turns into the transaction block, their transaction-local settings included
    /// (the protocol's documented behaviour for a multi-statement query), so a refusal fails
    /// before any BEGIN and leaves the connection idle, not in an aborted transaction block that
    /// sqlx would hand to the next user. The fence comes before the credential in the `SELECT`
    /// list, which PostgreSQL evaluates in order: a tenant not placed here is `Moved` whatever
    /// its credential.
    ///
    /// Every value written in cannot end its literal: a `SchemaName` is `[a-z0-9_]`, a
    /// `TenantId` `[a-z0-9-]`, a tier's name `[a-z]`, the credential hex, the timeout a number.
    pub(crate) fn sql(&self) -> String {
        use std::fmt::Write as _;
        let mut select = String::with_capacity(320);
        select.push_str("RESET ");
        select.push_str(TENANT_SETTING);
        // The C check sets the path itself (tenant_rls 1.3): one function call to name and
        // plan in BEGIN's query where there were two.
        let native = self.fence.filter(|_| self.native_fence);
        match native {
            Some((tenant, tier)) => {
                let _ = write!(
                    select,
                    "; SELECT tenant_rls.placement_enter('{}', '{}', ",
                    tenant.as_str(),
                    tier.as_str()
                );
            }
            None => select.push_str("; SELECT set_config('search_path', "),
        }
        match self.schema {
            Some(schema) => {
                let _ = write!(select, "'\"{}\", pg_temp'", schema.as_str());
            }
            None => select.push_str(
                "array_to_string(ARRAY(SELECT quote_ident(s) FROM unnest(current_schemas(false)) AS s \
                 WHERE s NOT LIKE 'pg\\_temp\\_%') || 'pg_temp'::text, ', ')",
            ),
        }
        if native.is_some() {
            select.push(')');
        } else {
            select.push_str(", true)");
            if let Some((tenant, tier)) = self.fence {
                let _ = write!(
                    select,
                    ", tenant_placement.enter('{}', '{}')",
                    tenant.as_str(),
                    tier.as_str()
                );
            }
        }
        if let Some((tenant, credential)) = self.enter {
            debug_assert!(credential.bytes().all(|b| b.is_ascii_hexdigit()));
            let _ = write!(
                select,
                ", set_config('{TENANT_SETTING}', {RLS_SCHEMA}.enter_text('{}', '{credential}'), true)",
                tenant.as_str()
            );
        }
        if let Some(millis) = self.statement_timeout_ms {
            let _ = write!(
                select,
                ", set_config('statement_timeout', '{millis}', true)"
            );
        }
        if self.fence.is_some() || self.enter.is_some() {
            select.push_str("; BEGIN");
            select
        } else {
            format!("BEGIN; {select}")
        }
    }
}

/// The statement that sets the tenant setting from `tenant_rls.enter`, the tenant and its
/// credential bound as parameters (so neither shows in `pg_stat_activity`'s query text), and
/// reads what a text credential needs: whether this session hides its query texts
/// (`tenant_rls.texts_hidden()`, false in the PL/pgSQL version, which refuses text credentials),
/// the database and the session user. A literal, for sqlx's statement cache; a test checks it
/// names [`TENANT_SETTING`] and [`RLS_SCHEMA`].
#[cfg(feature = "postgres")]
pub(crate) const ENTER: &str = "SELECT set_config('app.tenant_id', tenant_rls.enter($1, $2), true), \
                                tenant_rls.texts_hidden(), current_database()::text, session_user::text";

/// The SQLSTATE of `tenant_rls.enter_text`'s refusal in a session that publishes its query texts
/// (before it looks at the credential): the caller binds the credential instead.
#[cfg(feature = "postgres")]
pub(crate) const TEXTS_PUBLISHED: &str = "TR001";

/// `left || right` with `pg_catalog`'s operator, named: see [`plpgsql_install_statements`] for why every
/// name in the functions' bodies is qualified.
#[cfg(feature = "postgres")]
fn cat(left: &str, right: &str) -> String {
    format!("{left} OPERATOR(pg_catalog.||) {right}")
}

/// The HMAC-SHA256 of `message` (a `bytea` expression) under the pads `inner` and `outer`, in
/// SQL: `sha256(outer || sha256(inner || message))` is HMAC when the pads are the key XOR 0x36
/// and 0x5c (RFC 2104). Built-in `sha256` only: no extension to install.
#[cfg(feature = "postgres")]
fn hmac_sql(inner: &str, outer: &str, message: &str) -> String {
    format!(
        "pg_catalog.sha256({})",
        cat(
            outer,
            &format!("pg_catalog.sha256({})", cat(inner, message))
        )
    )
}

/// `text` as UTF-8 bytes.
#[cfg(feature = "postgres")]
fn utf8(text: &str) -> String {
    format!("pg_catalog.convert_to({text}, 'UTF8')")
}

/// What a transaction's tag covers, as bytes: `tx:<tenant>`, then the backend's process id and
/// the transaction's start (`now()` is fixed for a transaction) in their binary send formats:
/// 4 and 8 bytes, so the message parses one way only, and no TimeZone, DateStyle or
/// extra_float_digits that raw SQL may set changes it (the text of `extract(epoch ..)` was also
/// a numeric to format, on every statement). Another backend, or a later transaction on this
/// one, computes another tag.
#[cfg(feature = "postgres")]
fn tag_message(tenant: &str) -> String {
    cat(
        &cat(
            &utf8(&cat("'tx:'", tenant)),
            "pg_catalog.int4send(pg_catalog.pg_backend_pid())",
        ),
        "pg_catalog.timestamptz_send(pg_catalog.now())",
    )
}

/// `left = right` for two hex strings, in a time that says nothing about how much of a guess
/// was right: the comparison is of their SHA-256 digests.
#[cfg(feature = "postgres")]
fn blind_eq(left: &str, right: &str) -> String {
    format!(
        "pg_catalog.sha256({}) OPERATOR(pg_catalog.=) pg_catalog.sha256({})",
        utf8(left),
        utf8(right)
    )
}

/// The DDL of [`RLS_SCHEMA`]: the key table (no privilege for anyone but its owner) and the two
/// `SECURITY DEFINER` functions that read it. Idempotent; the key itself is written by
/// `RowSecurity::install`, bound, never in this text.
///
/// `current_tenant()` runs once per statement of every tenant transaction, so its cost is the
/// policy's: it is PL/pgSQL (a SQL function that cannot be inlined, as no `SECURITY DEFINER` one
/// can, is parsed and planned again in every statement: 10x slower, measured) and has **no**
/// `SET search_path` clause, which cost a GUC save and restore on every call (a quarter of the
/// function's time, measured). Without the clause its body is resolved with the caller's search
/// path, which raw SQL chooses, and it runs as the key's owner: so every name in it is
/// qualified. Functions, operators (`OPERATOR(pg_catalog.=)`, even `||`) and types
/// (`pg_catalog.text`) name `pg_catalog`; the one relation names `tenant_rls`, where the
/// application's role cannot create anything. A qualified name is looked up in that schema
/// only, so no function, operator, type or table of the caller's schemas or of `pg_temp` (which
/// PostgreSQL searches first for relations and types when unnamed, never for functions or
/// operators) can stand in for one. `NULLIF` and `IS DISTINCT FROM` are not used: they look up
/// `=` through the search path. `enter` runs once per transaction and keeps its clause.
#[cfg(feature = "postgres")]
pub(crate) fn plpgsql_install_statements() -> Vec<String> {
    let mut statements = key_statements();
    // The C version's `enter` belongs to the extension: only dropping it frees the name. The
    // SQL `current_tenant()` over it stays (a string body records no dependency) and is
    // replaced below, in place.
    statements.push(format!("DROP EXTENSION IF EXISTS {EXTENSION}"));
    // A placement fence installed over the extension's C check now calls a function that is
    // gone: it gets its PL/pgSQL body back (transactions would otherwise fail, closed, until
    // `PlacementFence::install` ran again).
    statements.push(format!(
        "DO $do$ BEGIN \
           IF to_regprocedure('tenant_placement.enter(text, text)') IS NOT NULL THEN \
             EXECUTE $ddl${}$ddl$; \
           END IF; \
         END $do$",
        crate::placement::PLACEMENT_ENTER_PLPGSQL
    ));
    statements.extend(plpgsql_functions());
    statements
}

/// The schema and the key table, which both versions share: the key stays where it is when a
/// database moves from one version to the other.
#[cfg(feature = "postgres")]
fn key_statements() -> Vec<String> {
    vec![
        format!("CREATE SCHEMA IF NOT EXISTS {RLS_SCHEMA}"),
        format!("REVOKE CREATE ON SCHEMA {RLS_SCHEMA} FROM PUBLIC"),
        format!("GRANT USAGE ON SCHEMA {RLS_SCHEMA} TO PUBLIC"),
        format!(
            "CREATE TABLE IF NOT EXISTS {RLS_SCHEMA}.key (\
               id integer PRIMARY KEY CHECK (id = 1), \
               inner_pad bytea NOT NULL CHECK (length(inner_pad) = 64), \
               outer_pad bytea NOT NULL CHECK (length(outer_pad) = 64))"
        ),
        format!("REVOKE ALL ON {RLS_SCHEMA}.key FROM PUBLIC"),
    ]
}

/// The C extension (`tenant-sqlx/pg`), installed on the server by `make install` and created
/// in a database by whoever may `CREATE EXTENSION` there (it is trusted: the database's
/// owner).
#[cfg(feature = "postgres")]
pub(crate) const EXTENSION: &str = "tenant_rls";

/// The extension's version this crate's SQL calls: 1.1 added `tenant_rls.placement_enter`, the
/// placement fence in C; 1.2 `enter_text` and `texts_hidden`, BEGIN's one round trip; 1.3
/// `placement_enter(tenant, tier, search_path)`, the fenced BEGIN's one function call. Named in
/// `CREATE EXTENSION`, so a server whose files are older is an error at installation, not a
/// missing function at the first BEGIN.
#[cfg(feature = "postgres")]
pub(crate) const EXTENSION_VERSION: &str = "1.3";

/// Creates the extension at [`EXTENSION_VERSION`] in [`RLS_SCHEMA`] (which must exist), or
/// updates one created at an older version. The update runs only when the version differs:
/// `ALTER EXTENSION` needs the extension's owner, which a later installer may not be.
#[cfg(feature = "postgres")]
pub(crate) fn extension_statements() -> [String; 2] {
    [
        format!(
            "CREATE EXTENSION IF NOT EXISTS {EXTENSION} VERSION '{EXTENSION_VERSION}' SCHEMA {RLS_SCHEMA}"
        ),
        format!(
            "DO $do$ BEGIN \
               IF (SELECT extversion FROM pg_catalog.pg_extension WHERE extname = '{EXTENSION}') \
                  <> '{EXTENSION_VERSION}' THEN \
                 ALTER EXTENSION {EXTENSION} UPDATE TO '{EXTENSION_VERSION}'; \
               END IF; \
             END $do$"
        ),
    ]
}

/// The DDL of the C version, `RowSecurity::install`'s: the schema and key table of
/// [`plpgsql_install_statements`], the extension, whose C `enter` the enter statement calls,
/// and `current_tenant` as a SQL function over its `native_current_tenant`.
///
/// The policies depend on `current_tenant()` (by identity, not by name), so a database that had
/// the PL/pgSQL version keeps that function, replaced in place (`CREATE OR REPLACE` keeps its
/// identity): no policy is rewritten. The wrapper costs nothing per statement: a SQL function
/// that is not `SECURITY DEFINER`, has no `SET` clause and is one `SELECT` of an expression is
/// inlined into the calling query when it is planned, so the policy's InitPlan calls the C
/// function directly. Its one name is qualified: inlining parses it with the caller's search
/// path. Nothing depends on `enter`: a PL/pgSQL one is dropped, so that the extension's takes
/// its name and the enter statement calls C with no wrapper to inline on every simple query; so
/// are its `enter_text` and `texts_hidden`.
#[cfg(feature = "postgres")]
pub(crate) fn extension_install_statements() -> Vec<String> {
    let mut statements = key_statements();
    statements.extend(
        [
            "enter(text, text)",
            "enter_text(text, text)",
            "texts_hidden()",
        ]
        .map(|function| {
            format!(
                "DO $do$ BEGIN \
                   IF to_regprocedure('{RLS_SCHEMA}.{function}') IS NOT NULL AND NOT EXISTS ( \
                     SELECT 1 FROM pg_catalog.pg_depend \
                     WHERE classid = 'pg_catalog.pg_proc'::regclass \
                       AND objid = to_regprocedure('{RLS_SCHEMA}.{function}') AND deptype = 'e') \
                   THEN DROP FUNCTION {RLS_SCHEMA}.{function}; \
                   END IF; \
                 END $do$"
            )
        }),
    );
    statements.extend(extension_statements());
    statements.extend([format!(
        "CREATE OR REPLACE FUNCTION {RLS_SCHEMA}.current_tenant() RETURNS text \
             LANGUAGE sql STABLE PARALLEL SAFE \
             AS $fn$ SELECT {RLS_SCHEMA}.native_current_tenant() $fn$"
    )]);
    statements
}

/// `enter` and `current_tenant` in PL/pgSQL, for servers where no C extension can be installed.
#[cfg(feature = "postgres")]
fn plpgsql_functions() -> Vec<String> {
    let credential = hmac_sql("k.inner_pad", "k.outer_pad", &utf8("'enter:' || tenant"));
    let tag = hmac_sql("k.inner_pad", "k.outer_pad", &tag_message("tenant"));
    let expected_tag = format!(
        "pg_catalog.encode({}, 'hex')",
        hmac_sql("v_inner", "v_outer", &tag_message("v_tenant"))
    );
    let verifies = blind_eq("pg_catalog.split_part(v, ':', 2)", &expected_tag);
    vec![
        // Checks the application's credential for `tenant` and returns the setting's value for
        // this transaction. It sets nothing itself: a `set_config(.., true)` inside a function
        // with a SET clause would be undone when the function returns.
        format!(
            "CREATE OR REPLACE FUNCTION {RLS_SCHEMA}.enter(tenant text, credential text) RETURNS text \
             LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$ \
             DECLARE k {RLS_SCHEMA}.key%ROWTYPE; \
             BEGIN \
               SELECT * INTO k FROM {RLS_SCHEMA}.key WHERE id = 1; \
               IF NOT FOUND THEN \
                 RAISE EXCEPTION 'tenant_rls: no key is installed' USING ERRCODE = '28000'; \
               END IF; \
               IF tenant IS NULL OR credential IS NULL \
                  OR tenant !~ '^[a-z0-9]([a-z0-9-]{{0,61}}[a-z0-9])?$' \
                  OR sha256(convert_to(credential, 'UTF8')) \
                     <> sha256(convert_to(encode({credential}, 'hex'), 'UTF8')) THEN \
                 RAISE EXCEPTION 'tenant_rls: the tenant credential does not verify' \
                   USING ERRCODE = '28000'; \
               END IF; \
               RETURN tenant || ':' || encode({tag}, 'hex'); \
             END $fn$"
        ),
        // No text credentials: this version has no check that the session hides its query texts
        // (see the C `enter_text`), so it refuses them all, before looking at them, as the C one
        // does where texts are published; `RowSecurity::begin` then never sends one.
        format!(
            "CREATE OR REPLACE FUNCTION {RLS_SCHEMA}.enter_text(tenant text, credential text) \
             RETURNS text LANGUAGE plpgsql VOLATILE AS $fn$ BEGIN \
               RAISE EXCEPTION 'tenant_rls: the PL/pgSQL version refuses credentials in query texts' \
                 USING ERRCODE = '{TEXTS_PUBLISHED}'; \
             END $fn$"
        ),
        format!(
            "CREATE OR REPLACE FUNCTION {RLS_SCHEMA}.texts_hidden() RETURNS boolean \
             LANGUAGE sql IMMUTABLE AS $fn$ SELECT false $fn$"
        ),
        // The verified tenant of this transaction, or NULL: unset, '' (what a connection reads
        // after a transaction set it), malformed, forged, or copied from another transaction.
        // PARALLEL RESTRICTED: the leader evaluates it (a worker's pg_backend_pid() is its own,
        // and would verify nothing), and the rest of a query may still run in parallel. No SET
        // clause, every name qualified: see above.
        format!(
            "CREATE OR REPLACE FUNCTION {RLS_SCHEMA}.current_tenant() RETURNS text \
             LANGUAGE plpgsql STABLE PARALLEL RESTRICTED SECURITY DEFINER AS $fn$ \
             DECLARE v pg_catalog.text; v_tenant pg_catalog.text; \
               v_inner pg_catalog.bytea; v_outer pg_catalog.bytea; \
             BEGIN \
               v := pg_catalog.current_setting('{TENANT_SETTING}', true); \
               IF v IS NULL OR v OPERATOR(pg_catalog.=) '' THEN RETURN NULL; END IF; \
               SELECT k.inner_pad, k.outer_pad INTO v_inner, v_outer \
                 FROM {RLS_SCHEMA}.key AS k WHERE k.id OPERATOR(pg_catalog.=) 1; \
               IF v_inner IS NULL THEN RETURN NULL; END IF; \
               v_tenant := pg_catalog.split_part(v, ':', 1); \
               IF {verifies} THEN RETURN v_tenant; END IF; \
               RETURN NULL; \
             END $fn$"
        ),
    ]
}

#[cfg(all(test, feature = "postgres"))]
mod tests {
    use super::*;

    #[test]
    fn the_enter_statement_names_the_setting_and_the_schema() {
        assert!(ENTER.contains(&format!("'{TENANT_SETTING}'")));
        assert!(ENTER.contains(&format!("{RLS_SCHEMA}.enter(")));
        let acme: tenant_core::TenantId = "acme".parse().unwrap();
        let begin = Begin {
            enter: Some((&acme, "00ff")),
            ..Begin::default()
        };
        assert!(begin.sql().ends_with(
            ", set_config('app.tenant_id', tenant_rls.enter_text('acme', '00ff'), true); BEGIN"
        ));
    }

    #[test]
    fn the_search_path_names_pg_temp_last() {
        let schema: tenant_core::SchemaName = "tenant_acme".parse().unwrap();
        assert_eq!(
            begin_statement(Some(&schema)),
            "BEGIN; RESET app.tenant_id; \
             SELECT set_config('search_path', '\"tenant_acme\", pg_temp', true)"
        );
        assert!(begin_statement(None).ends_with("|| 'pg_temp'::text, ', '), true)"));
        let acme: tenant_core::TenantId = "acme".parse().unwrap();
        assert_eq!(
            Begin {
                schema: Some(&schema),
                enter: Some((&acme, "00ff")),
                ..Begin::default()
            }
            .sql(),
            "RESET app.tenant_id; \
             SELECT set_config('search_path', '\"tenant_acme\", pg_temp', true), \
             set_config('app.tenant_id', tenant_rls.enter_text('acme', '00ff'), true); BEGIN"
        );
    }

    /// Everything in one `SELECT`, the fence before the credential, BEGIN last whenever
    /// something can refuse, first otherwise.
    #[test]
    fn the_fence_the_credential_and_the_timeout_share_one_select() {
        let schema: tenant_core::SchemaName = "tenant_acme".parse().unwrap();
        let acme: tenant_core::TenantId = "acme".parse().unwrap();
        assert_eq!(
            Begin {
                schema: Some(&schema),
                fence: Some((&acme, tenant_core::Tier::Schema)),
                native_fence: false,
                enter: Some((&acme, "00ff")),
                statement_timeout_ms: Some(250),
            }
            .sql(),
            "RESET app.tenant_id; \
             SELECT set_config('search_path', '\"tenant_acme\", pg_temp', true), \
             tenant_placement.enter('acme', 'schema'), \
             set_config('app.tenant_id', tenant_rls.enter_text('acme', '00ff'), true), \
             set_config('statement_timeout', '250', true); BEGIN"
        );
        let fenced = Begin {
            fence: Some((&acme, tenant_core::Tier::Shared)),
            ..Begin::default()
        }
        .sql();
        assert_eq!(fenced.matches("SELECT ").count(), 2, "{fenced}"); // the path's subquery
        assert!(fenced.ends_with(", tenant_placement.enter('acme', 'shared'); BEGIN"));
        let native = Begin {
            fence: Some((&acme, tenant_core::Tier::Shared)),
            native_fence: true,
            ..Begin::default()
        }
        .sql();
        // One call: the check sets the path.
        assert!(
            native.starts_with("RESET app.tenant_id; SELECT tenant_rls.placement_enter('acme', 'shared', array_to_string("),
            "{native}"
        );
        assert!(native.ends_with(" ', ')); BEGIN"), "{native}");
        assert!(!native.contains("set_config"), "{native}");
        let native_in_schema = Begin {
            schema: Some(&schema),
            fence: Some((&acme, tenant_core::Tier::Schema)),
            native_fence: true,
            enter: Some((&acme, "00ff")),
            statement_timeout_ms: Some(250),
        }
        .sql();
        assert_eq!(
            native_in_schema,
            "RESET app.tenant_id; \
             SELECT tenant_rls.placement_enter('acme', 'schema', '\"tenant_acme\", pg_temp'), \
             set_config('app.tenant_id', tenant_rls.enter_text('acme', '00ff'), true), \
             set_config('statement_timeout', '250', true); BEGIN"
        );
        let timed = Begin {
            statement_timeout_ms: Some(5),
            ..Begin::default()
        }
        .sql();
        assert!(timed.starts_with("BEGIN; RESET app.tenant_id; SELECT "));
        assert!(timed.ends_with("), true), set_config('statement_timeout', '5', true)"));
    }
}
