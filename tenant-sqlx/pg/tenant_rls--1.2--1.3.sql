-- tenant_rls 1.3: the fenced BEGIN's one function call.
\echo Use "ALTER EXTENSION tenant_rls UPDATE TO '1.3'" to load this file. \quit

-- placement_enter's check (TP001 not placed here or of another tier, TP002 fenced), then
-- set_config('search_path', search_path, true): tenant-sqlx's fenced BEGIN calls this one
-- function where it called set_config and placement_enter, each named and planned on every
-- BEGIN. It takes no lock (the move's drain waits for older transactions instead; SECURITY.md);
-- the two-argument check keeps its shared lock for the drains of earlier releases.
CREATE FUNCTION tenant_rls.placement_enter(tenant text, tier text, search_path text) RETURNS void
    AS 'MODULE_PATHNAME', 'tenant_rls_placement_enter_path'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
