//! Which check each PostgreSQL database's fenced BEGIN calls: the extension's C function by its
//! own name, in the form that also sets the search path
//! (`tenant_rls.placement_enter(tenant, tier, search_path)`, tenant_rls 1.3), where the
//! database's `tenant_placement.enter` is the SQL wrapper over the check
//! ([`PlacementFence::install`](crate::PlacementFence::install) with the extension); the database's own `enter` elsewhere
//! (PL/pgSQL: managed servers, [`PlacementFence::install_plpgsql`](crate::PlacementFence::install_plpgsql); or an extension older than
//! 1.3 that the installer could not update, not being its owner).
//!
//! Learnt with one catalog query at the first fenced BEGIN on a pool, then kept for the process
//! ([`PoolMemo`](crate::pool_memo::PoolMemo): no lock and no allocation on the BEGINs after),
//! so no BEGIN pays a round trip for it.
//! The answer trusts only what the application's role cannot make: the function must belong
//! to the extension `tenant_rls` (whose schema it cannot create in), not merely have its name.
//! A database that drops the extension later answers the next native BEGIN with an undefined
//! function, before anything ran ([`gone`]); that BEGIN is made again with the database's own
//! `enter`, which decides from then on. A database that gains the extension keeps the wrapper,
//! which calls the same check, until the process restarts.

use std::sync::LazyLock;

use sqlx::PgPool;

use crate::error::Error;
use crate::pool_memo::PoolMemo;

static POOLS: LazyLock<PoolMemo<bool>> = LazyLock::new(PoolMemo::new);

/// Whether `pool`'s database has the C check under its fence: remembered, or asked once.
pub(super) async fn learn(pool: &PgPool) -> Result<bool, Error> {
    if let Some(native) = POOLS.with(pool, |native| *native) {
        return Ok(native);
    }
    let native = sqlx::query_scalar::<_, bool>(
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_depend AS d \
           JOIN pg_catalog.pg_extension AS e ON e.oid OPERATOR(pg_catalog.=) d.refobjid \
           WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass \
             AND d.objid OPERATOR(pg_catalog.=) \
                 pg_catalog.to_regprocedure('tenant_rls.placement_enter(pg_catalog.text, pg_catalog.text, pg_catalog.text)') \
             AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass \
             AND d.deptype OPERATOR(pg_catalog.=) 'e' AND e.extname OPERATOR(pg_catalog.=) 'tenant_rls') \
         AND EXISTS (SELECT 1 FROM pg_catalog.pg_proc AS p \
           JOIN pg_catalog.pg_language AS l ON l.oid OPERATOR(pg_catalog.=) p.prolang \
           WHERE p.oid OPERATOR(pg_catalog.=) \
                 pg_catalog.to_regprocedure('tenant_placement.enter(pg_catalog.text, pg_catalog.text)') \
             AND l.lanname OPERATOR(pg_catalog.=) 'sql')",
    )
    .fetch_one(pool)
    .await?;
    POOLS.remember(pool, native);
    Ok(native)
}

/// A native BEGIN refused because the function (or its schema) is not there: SQLSTATE
/// `42883` (undefined function), `3F000` (no such schema). The pool's answer becomes no.
pub(super) fn gone(pool: &PgPool, error: &sqlx::Error) -> bool {
    let code = error.as_database_error().and_then(|e| e.code());
    let gone = matches!(code.as_deref(), Some("42883" | "3F000"));
    if gone {
        POOLS.remember(pool, false);
    }
    gone
}
