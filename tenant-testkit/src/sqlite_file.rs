//! [`SqliteFile`]: a fresh SQLite database that several pooled connections share.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};

/// A fresh SQLite database in a file of the temporary directory, and a pool of four
/// connections on it: what a search on SQLite should run on. An in-memory database is per
/// connection, so a pool of one cannot show state one connection keeps for the next (a cached
/// statement, a setting). Write-ahead logging lets readers run beside a writer, foreign keys
/// are on (SQLite's default is off), and a long busy timeout makes a writer wait for another
/// rather than fail. [`remove`](Self::remove) closes the pool and deletes the files.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), sqlx::Error> {
/// let file = tenant_testkit::SqliteFile::create("my_app_leak_search").await?;
/// sqlx::query("CREATE TABLE notes (id INTEGER PRIMARY KEY)")
///     .execute(file.pool())
///     .await?;
/// let path = file.path().to_owned();
/// file.remove().await;
/// assert!(!path.exists());
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct SqliteFile {
    pool: SqlitePool,
    path: PathBuf,
}

impl SqliteFile {
    /// A new database file, `<name>_<process>_<n>.db` in the temporary directory (a file an
    /// earlier process of the same id left there is replaced), and the pool on it.
    ///
    /// # Errors
    /// When the file cannot be created or opened.
    pub async fn create(name: &str) -> Result<Self, sqlx::Error> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "{name}_{}_{}.db",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        remove_files(&path);
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(60));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        Ok(SqliteFile { pool, path })
    }

    /// The pool on the file.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Closes the pool (every clone of it), then deletes the file and its write-ahead log.
    pub async fn remove(self) {
        self.pool.close().await;
        remove_files(&self.path);
    }
}

/// The database file and the two files write-ahead logging keeps beside it.
fn remove_files(path: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        // Absent already (never created, or removed): nothing to do.
        let _ = std::fs::remove_file(file);
    }
}
