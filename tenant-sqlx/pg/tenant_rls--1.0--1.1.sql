-- tenant_rls 1.1: the placement fence in C.
\echo Use "ALTER EXTENSION tenant_rls UPDATE TO '1.1'" to load this file. \quit

-- tenant-sqlx's placement fence (PlacementFence): takes the tenant's advisory key shared, then
-- reads the tenant's row of tenant_placement.tenants (directly, whatever the caller may read),
-- under a snapshot taken after the lock; raises TP001 when this database does not hold the
-- tenant in `tier`, TP002 when it is fenced. PlacementFence::install makes
-- tenant_placement.enter a SQL function over it, which the planner inlines.
CREATE FUNCTION tenant_rls.placement_enter(tenant text, tier text) RETURNS void
    AS 'MODULE_PATHNAME', 'tenant_rls_placement_enter'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
