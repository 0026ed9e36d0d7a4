//! The move's drain on PostgreSQL: after the fence's flag is committed, wait for every
//! transaction that may have passed the check without seeing it.
//!
//! Why this is enough (SECURITY.md, "The placement fence"): the check reads the placement row
//! in a snapshot its transaction takes after it began, and a transaction holds its virtual
//! transaction id (a lock on it, `pg_locks.locktype = 'virtualxid'`) from its start to its end.
//! The list below is read after the flag's commit returned, so after the commit was visible to
//! every new snapshot. A transaction not in it either had ended, or began after the list was
//! read: its check's snapshot sees the flag, and refuses it. Those in it are waited for, as
//! `CREATE INDEX CONCURRENTLY` waits for older transactions. What a listed transaction can
//! still do is `PREPARE TRANSACTION`: its writes then outlive its virtual id, uncommitted, until
//! a `COMMIT PREPARED` from any session. So the prepared transactions are listed **after** the
//! running ones have all ended (one prepared in between is then in that list) and waited for
//! in turn; one prepared before the flag is in it too.
//!
//! The wait is for every transaction of the database, not only the tenant's (no lock names
//! the tenant any more: BEGIN takes none, which is what made the fence cost a lock per
//! transaction), so it is bounded: past `timeout` the answer is [`Error::DrainTimeout`], the
//! flag still set. The own backend is left out (its autocommit statements are not a
//! transaction of the tenant), and so are autovacuum workers, which run no statement of the
//! application (a long vacuum would otherwise hold a move back). Polled, since SQL cannot wait on another backend's virtual id; each poll is a
//! statement of its own, so `pg_stat_activity` is read afresh.

use std::time::{Duration, Instant};

use sqlx::PgPool;
use tenant_core::TenantId;

use crate::error::Error;

/// The running transactions of this database, but this backend's and those of processes
/// without a user (autovacuum's: PostgreSQL records a user for client backends, WAL
/// senders and background workers only). `usesysid`, not `backend_type`: a role without
/// `pg_read_all_stats` sees other roles' `backend_type` as NULL, but their user and
/// database.
const RUNNING: &str = "SELECT l.virtualxid FROM pg_catalog.pg_locks AS l \
     JOIN pg_catalog.pg_stat_activity AS a ON a.pid OPERATOR(pg_catalog.=) l.pid \
     WHERE l.locktype OPERATOR(pg_catalog.=) 'virtualxid' AND l.granted \
       AND l.pid OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid() \
       AND a.datid OPERATOR(pg_catalog.=) (SELECT d.oid FROM pg_catalog.pg_database AS d \
           WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database()) \
       AND a.usesysid IS NOT NULL";

/// Those of `$1` still running.
const STILL_RUNNING: &str = "SELECT l.virtualxid FROM pg_catalog.pg_locks AS l \
     WHERE l.locktype OPERATOR(pg_catalog.=) 'virtualxid' AND l.granted \
       AND l.virtualxid OPERATOR(pg_catalog.=) ANY ($1)";

/// The prepared transactions of this database, by transaction id.
const PREPARED: &str = "SELECT p.transaction::pg_catalog.text FROM pg_catalog.pg_prepared_xacts AS p \
     WHERE p.database OPERATOR(pg_catalog.=) pg_catalog.current_database()";

/// Those of `$1` still prepared.
const STILL_PREPARED: &str = "SELECT p.transaction::pg_catalog.text FROM pg_catalog.pg_prepared_xacts AS p \
     WHERE p.transaction::pg_catalog.text OPERATOR(pg_catalog.=) ANY ($1)";

/// The first pause between polls, doubled up to [`MAX_PAUSE`]: a move's window is the
/// drain plus the copy, so a transaction that ends soon is seen soon.
const FIRST_PAUSE: Duration = Duration::from_millis(1);
const MAX_PAUSE: Duration = Duration::from_millis(50);

pub(super) async fn wait(pool: &PgPool, tenant: &TenantId, timeout: Duration) -> Result<(), Error> {
    let started = Instant::now();
    let mut conn = pool.acquire().await?;
    let running: Vec<String> = sqlx::query_scalar(RUNNING).fetch_all(&mut *conn).await?;
    until_gone(&mut conn, STILL_RUNNING, running, tenant, started, timeout).await?;
    let prepared: Vec<String> = sqlx::query_scalar(PREPARED).fetch_all(&mut *conn).await?;
    until_gone(
        &mut conn,
        STILL_PREPARED,
        prepared,
        tenant,
        started,
        timeout,
    )
    .await
}

/// Polls `still` with `ids` until none is left, or `timeout` since `started` has passed.
async fn until_gone(
    conn: &mut sqlx::PgConnection,
    still: &'static str,
    mut ids: Vec<String>,
    tenant: &TenantId,
    started: Instant,
    timeout: Duration,
) -> Result<(), Error> {
    let mut pause = FIRST_PAUSE;
    while !ids.is_empty() {
        let waited = started.elapsed();
        if waited >= timeout {
            return Err(Error::DrainTimeout {
                tenant: tenant.clone(),
                running: ids.len(),
                waited_ms: u64::try_from(waited.as_millis()).unwrap_or(u64::MAX),
            });
        }
        tokio::time::sleep(pause.min(timeout - waited)).await;
        pause = (pause * 2).min(MAX_PAUSE);
        ids = sqlx::query_scalar(still)
            .bind(&ids)
            .fetch_all(&mut *conn)
            .await?;
    }
    Ok(())
}
