-- tenant_rls 1.0: the C half of tenant-sqlx's RowSecurity.
\echo Use "CREATE EXTENSION tenant_rls" to load this file. \quit

-- Checks the key holder's credential for `tenant` and sets the superuser-only setting
-- `tenant_rls.tenant` for the rest of the transaction; returns the tenant. SECURITY DEFINER
-- so that it can read tenant_rls.key, which the application's role cannot; no SET clause,
-- which would undo the setting when the function returns.
CREATE FUNCTION tenant_rls.native_enter(tenant text, credential text) RETURNS text
    AS 'MODULE_PATHNAME', 'tenant_rls_enter'
    LANGUAGE C VOLATILE SECURITY DEFINER PARALLEL UNSAFE;

-- The transaction's tenant, or NULL. Reads the setting and nothing else: no key, no table.
CREATE FUNCTION tenant_rls.native_current_tenant() RETURNS text
    AS 'MODULE_PATHNAME', 'tenant_rls_current_tenant'
    LANGUAGE C STABLE PARALLEL SAFE;
