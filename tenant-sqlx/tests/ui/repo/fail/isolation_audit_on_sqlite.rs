// The isolation audit reads PostgreSQL's catalog (roles, row-level security, policies): pointing
// it at SQLite does not compile, rather than passing with nothing checked.
use tenant::sqlx::IsolationAudit;

async fn audit(pool: &sqlx::SqlitePool) {
    let _ = IsolationAudit::new().ensure(pool).await;
}

fn main() {}
