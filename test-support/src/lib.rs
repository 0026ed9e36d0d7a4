//! Shared by the workspace's integration tests: the servers' variables (skip locally, fail on
//! CI), databases, contexts, an audit-log capture, and private PostgreSQL and Redis servers that
//! fault-injection tests stop and restart ([`PgServer`], [`RedisServer`]).

use std::io::Write;
use std::sync::{Arc, Mutex};

use tenant::{Plan, TenantCtx};

#[cfg(feature = "fuzz")]
pub mod fuzz;

// Processes, signals and file ownership the Unix way (runuser, kill, chown).
#[cfg(unix)]
mod servers;

#[cfg(unix)]
pub use servers::{PgServer, PgStop, RedisServer};

/// The value of the server variable `var` (`DATABASE_URL`, `REDIS_URL`, `TEMPORAL_ADDRESS`), or
/// `None` with a notice on stderr (which the test harness does not swallow) when it is unset.
/// On CI (`CI` set) an unset variable is a failure, never a silent pass: `.ci/run` sets them all.
pub fn server_var(var: &str, test: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(value) if !value.is_empty() => Some(value),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI is set but {var} is not: {test} must run on CI (.ci/run starts its server)"
            );
            let _ = writeln!(
                std::io::stderr(),
                "notice: {test} skipped: {var} is not set (.ci/run sets it)"
            );
            None
        }
    }
}

/// A name no other run uses on a server others share: `prefix`, a tag random per process
/// (another container's process may have this one's id) and the process's next number. Short
/// enough for a PostgreSQL identifier when `prefix` is under 40 characters.
pub fn unique_name(prefix: &str) -> String {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::LazyLock;
    use std::sync::atomic::{AtomicU32, Ordering};

    // std's hasher keys are random per process: a tag without a random-number crate.
    static TAG: LazyLock<u32> = LazyLock::new(|| {
        std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish() as u32
    });
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}_{:08x}_{}",
        *TAG,
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A context of `tenant`, with the schema `tenant_<id>`.
pub fn ctx(tenant: &str, plan: Plan) -> TenantCtx {
    let schema = format!("tenant_{}", tenant.replace('-', "_"));
    TenantCtx::trusted(tenant.parse().unwrap(), schema.parse().unwrap(), plan)
}

/// A fresh in-memory SQLite database.
#[cfg(feature = "sqlx")]
pub async fn sqlite() -> sqlx::SqlitePool {
    sqlx::SqlitePool::connect("sqlite::memory:").await.unwrap()
}

/// A pool on a fresh schema of the PostgreSQL database at `DATABASE_URL`, or `None` when it is
/// not set (see [`server_var`]).
#[cfg(feature = "sqlx")]
pub async fn postgres(test: &str) -> Option<sqlx::PgPool> {
    use std::str::FromStr;
    use std::sync::atomic::{AtomicU32, Ordering};

    use sqlx::PgPool;
    use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

    let url = server_var("DATABASE_URL", &format!("{test} on PostgreSQL"))?;
    static ANNOUNCE: std::sync::Once = std::sync::Once::new();
    ANNOUNCE.call_once(|| {
        let host = url.rsplit('@').next().unwrap_or("?");
        let _ = writeln!(
            std::io::stderr(),
            "notice: PostgreSQL tests run against {host}"
        );
    });
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let schema = format!(
        "t_{}_{}_{}",
        test.replace(|c: char| !c.is_ascii_alphanumeric(), "_"),
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let admin = PgPool::connect(&url)
        .await
        .expect("connect to DATABASE_URL");
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE"
    )))
    .execute(&admin)
    .await
    .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
    let options = PgConnectOptions::from_str(&url)
        .unwrap()
        .options([("search_path", schema.as_str())]);
    Some(
        PgPoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .unwrap(),
    )
}

/// Two pools on one fresh schema: the owner's (`DATABASE_URL`, which creates the tables) and
/// the application role's (`APP_DATABASE_URL`: no superuser, no BYPASSRLS, owns nothing, may
/// only read and write the schema's tables), so row-level security applies to the second as
/// in production. `None` when either variable is unset (see [`server_var`]). The application
/// pool has `app_connections` connections.
#[cfg(feature = "sqlx")]
pub async fn postgres_app_role(
    test: &str,
    app_connections: u32,
) -> Option<(sqlx::PgPool, sqlx::PgPool)> {
    use std::str::FromStr;

    use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

    let app_url = server_var(
        "APP_DATABASE_URL",
        &format!("{test} as the application role"),
    )?;
    let owner = postgres(test).await?;
    let schema: String = sqlx::query_scalar("SELECT current_schema()::text")
        .fetch_one(&owner)
        .await
        .unwrap();
    let app_user = PgConnectOptions::from_str(&app_url)
        .unwrap()
        .get_username()
        .to_owned();
    for grant in [
        format!("GRANT USAGE ON SCHEMA {schema} TO {app_user}"),
        format!(
            "ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} \
             GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {app_user}"
        ),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(grant))
            .execute(&owner)
            .await
            .unwrap();
    }
    let options = PgConnectOptions::from_str(&app_url)
        .unwrap()
        .options([("search_path", schema.as_str())]);
    let app = PgPoolOptions::new()
        .max_connections(app_connections)
        .connect_with(options)
        .await
        .unwrap();
    Some((owner, app))
}

/// Like [`postgres_app_role`], but on a fresh *database* of the `DATABASE_URL` server (owned by
/// its role, tables in `public`) on which `TEMPORARY` is revoked from `PUBLIC`: the database as
/// SECURITY.md asks for it, where `IsolationAudit` run as the application role passes. The
/// schemas of [`postgres`] share one database, whose `PUBLIC` keeps PostgreSQL's default TEMP
/// (tests there create temporary tables on purpose). The database is named after `test` and
/// dropped first if an earlier run left it.
#[cfg(feature = "sqlx")]
pub async fn postgres_app_database(
    test: &str,
    app_connections: u32,
) -> Option<(sqlx::PgPool, sqlx::PgPool)> {
    use std::str::FromStr;

    use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

    let url = server_var("DATABASE_URL", &format!("{test} on PostgreSQL"))?;
    let app_url = server_var(
        "APP_DATABASE_URL",
        &format!("{test} as the application role"),
    )?;
    let mut name = format!(
        "t_{}",
        test.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
            .to_ascii_lowercase()
    );
    name.truncate(63);
    let owner_options = fresh_database(&url, &name).await;
    let app_options = PgConnectOptions::from_str(&app_url)
        .unwrap()
        .database(&name);
    let owner = PgPoolOptions::new()
        .max_connections(4)
        .connect_with(owner_options)
        .await
        .unwrap();
    // The owner of the database may revoke what PUBLIC holds on it.
    for statement in [
        format!("REVOKE TEMPORARY ON DATABASE {name} FROM PUBLIC"),
        format!(
            "ALTER DEFAULT PRIVILEGES IN SCHEMA public \
             GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {}",
            app_options.get_username()
        ),
    ] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
            .execute(&owner)
            .await
            .unwrap();
    }
    let app = PgPoolOptions::new()
        .max_connections(app_connections)
        .connect_with(app_options)
        .await
        .unwrap();
    Some((owner, app))
}

/// A fresh database `name` on the server at `admin_url` (a role that may create databases),
/// dropped first if an earlier run left it. Returns `admin_url`'s options on the new database.
#[cfg(feature = "sqlx")]
pub async fn fresh_database(admin_url: &str, name: &str) -> sqlx::postgres::PgConnectOptions {
    use std::str::FromStr;

    let admin = sqlx::PgPool::connect(admin_url)
        .await
        .expect("connect to the server");
    // One statement per query: CREATE and DROP DATABASE refuse a transaction block.
    for statement in [
        format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        format!("CREATE DATABASE {name}"),
    ] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
            .execute(&admin)
            .await
            .unwrap();
    }
    admin.close().await;
    sqlx::postgres::PgConnectOptions::from_str(admin_url)
        .unwrap()
        .database(name)
}

/// Drops the database `name` of the server at `admin_url`: a run's clean-up, so a server that
/// is gone already (a private one, stopped with its databases) is no error.
#[cfg(feature = "sqlx")]
pub async fn drop_database(admin_url: &str, name: &str) {
    if let Ok(admin) = sqlx::PgPool::connect(admin_url).await {
        let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(&admin)
        .await;
        admin.close().await;
    }
}

/// The [`RowSecurity`](tenant::sqlx::RowSecurity) of the tests: one fixed key (a test key,
/// in the open), the same in every test binary.
#[cfg(feature = "sqlx")]
pub fn row_security() -> tenant::sqlx::RowSecurity {
    tenant::sqlx::RowSecurity::new(b"tenant-test-support row security key, tests only").unwrap()
}

/// Installs [`row_security`]'s functions and key with `owner` (`DATABASE_URL`'s role): what a
/// deployment does once, as the role that owns the key.
#[cfg(feature = "sqlx")]
pub async fn install_row_security(owner: &sqlx::PgPool) -> tenant::sqlx::RowSecurity {
    let rls = row_security();
    rls.install(owner)
        .await
        .expect("install row-level security");
    rls
}

/// As [`install_row_security`], with the PL/pgSQL functions
/// (`RowSecurity::install_plpgsql`), for a database of the test's own: a database has one
/// version at a time, and the shared one has the C extension.
#[cfg(feature = "sqlx")]
pub async fn install_row_security_plpgsql(owner: &sqlx::PgPool) -> tenant::sqlx::RowSecurity {
    let rls = row_security();
    rls.install_plpgsql(owner)
        .await
        .expect("install row-level security in PL/pgSQL");
    rls
}

thread_local! {
    static CAPTURE: std::cell::RefCell<Option<Arc<Mutex<Vec<u8>>>>> = const { std::cell::RefCell::new(None) };
}

/// Writes to the capture buffer of the current thread, if a test set one.
struct ThreadCapture;

impl Write for ThreadCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        CAPTURE.with(|capture| {
            if let Some(buffer) = &*capture.borrow() {
                buffer.lock().unwrap().extend_from_slice(buf);
            }
        });
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Stops the capture of the current thread when dropped.
pub struct CaptureGuard;

impl Drop for CaptureGuard {
    fn drop(&mut self) {
        CAPTURE.with(|capture| capture.borrow_mut().take());
    }
}

/// Collects the events emitted on the current thread while the returned guard lives. One
/// global subscriber serves every test (thread-local "default" subscribers race in tracing's
/// global interest cache when tests run in parallel); it writes to the buffer of the thread
/// that emitted the event.
pub fn capture_audit() -> (Arc<Mutex<Vec<u8>>>, CaptureGuard) {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        let subscriber = tracing_subscriber::fmt()
            .with_writer(|| ThreadCapture)
            .with_ansi(false)
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("no other global subscriber");
    });
    let buffer = Arc::new(Mutex::new(Vec::new()));
    CAPTURE.with(|capture| *capture.borrow_mut() = Some(buffer.clone()));
    (buffer, CaptureGuard)
}

/// What a capture collected, as text.
pub fn text(buffer: &Arc<Mutex<Vec<u8>>>) -> String {
    String::from_utf8(buffer.lock().unwrap().clone()).unwrap()
}
