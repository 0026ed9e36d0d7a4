//! Shared by the integration tests: databases, contexts and an audit-log capture.

#![allow(dead_code, unreachable_pub)]

use std::io::Write;
use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, SqlitePool};
use tenant::{Plan, TenantCtx};

pub fn ctx(tenant: &str, plan: Plan) -> TenantCtx {
    let schema = format!("tenant_{}", tenant.replace('-', "_"));
    TenantCtx::trusted(tenant.parse().unwrap(), schema.parse().unwrap(), plan)
}

/// A fresh in-memory SQLite database.
pub async fn sqlite() -> SqlitePool {
    SqlitePool::connect("sqlite::memory:").await.unwrap()
}

/// A pool on a fresh schema of the PostgreSQL database at `DATABASE_URL`, or `None` (with a
/// notice on stderr that the test harness does not swallow) when it is not set. On CI a missing
/// database is a failure, never a silent pass.
pub async fn postgres(test: &str) -> Option<PgPool> {
    let Ok(url) = std::env::var("DATABASE_URL") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but DATABASE_URL is not: the PostgreSQL tests must run on CI"
        );
        let _ = writeln!(
            std::io::stderr(),
            "notice: {test} skipped on PostgreSQL: DATABASE_URL is not set (.ci/run sets it)"
        );
        return None;
    };
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

pub fn text(buffer: &Arc<Mutex<Vec<u8>>>) -> String {
    String::from_utf8(buffer.lock().unwrap().clone()).unwrap()
}
