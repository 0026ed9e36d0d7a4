-- tenant_rls 1.0: the C half of tenant-sqlx's RowSecurity.
\echo Use "CREATE EXTENSION tenant_rls" to load this file. \quit

-- Checks the key holder's credential for `tenant` and sets the superuser-only setting
-- `tenant_rls.tenant` for the rest of the transaction; returns the tenant. It reads
-- tenant_rls.key itself, whatever the caller may read. No SET clause: one would undo the
-- setting when the function returns. RowSecurity::install drops a PL/pgSQL enter first.
CREATE FUNCTION tenant_rls.enter(tenant text, credential text) RETURNS text
    AS 'MODULE_PATHNAME', 'tenant_rls_enter'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;

-- The transaction's tenant, or NULL. Reads the setting and nothing else. The policies call
-- tenant_rls.current_tenant(), a SQL function over this one that RowSecurity::install creates
-- (or replaces, keeping the policies that depend on it), and that the planner inlines.
CREATE FUNCTION tenant_rls.native_current_tenant() RETURNS text
    AS 'MODULE_PATHNAME', 'tenant_rls_current_tenant'
    LANGUAGE C STABLE PARALLEL SAFE;
