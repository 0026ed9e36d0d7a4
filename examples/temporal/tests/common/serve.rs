//! The worker process of the worker-kill test: the fleet's workers, served until the process is
//! killed, printing a JSON line per activity attempt. The test runs its own binary again with
//! only [`SERVE_TEST`] selected and [`SERVE_PREFIX`] set (see `WorkerProcess::spawn`).

use std::error::Error;
use std::time::Duration;

use example_temporal::{ActivityRecord, Fleet, Provisioning};

/// The test function that serves when [`SERVE_PREFIX`] is set.
pub(crate) const SERVE_TEST: &str = "worker_process";
/// The fleet's queue prefix: set, the process serves.
pub(crate) const SERVE_PREFIX: &str = "PROVISIONING_QUEUE_PREFIX";
/// How long, in milliseconds, each migration's data step takes (heartbeating).
pub(crate) const SERVE_MIGRATION_WORK_MS: &str = "PROVISIONING_MIGRATION_WORK_MS";
/// The claim keys the test's worker processes and its starter share.
pub(crate) const TEST_CLAIM_KEYS: &str = "claims1:tlL9C3QBIVlBWxotkSiN2fBkFH9h2Y3eQ+jLNdhOimU=";
/// How the process prefixes each record's line on stdout.
const JOURNAL_LINE: &str = "journal ";

/// The [`example_temporal::worker_identity`] of the worker process `pid`.
pub(crate) fn worker_identity_of(pid: u32) -> String {
    format!("{pid}@tenant-provisioning")
}

/// The record a journal line of the process carries, if `line` is one.
pub(crate) fn journal_record(line: &str) -> Option<ActivityRecord> {
    serde_json::from_str(line.strip_prefix(JOURNAL_LINE)?).ok()
}

/// Serves the fleet named by [`SERVE_PREFIX`] until the process is stopped: one worker per
/// task queue, `serving {queues} as {identity}` on stdout once they poll, then a journal line
/// per activity attempt, and the audit events (every tenant activity input verified or
/// refused) on stderr.
pub(crate) async fn serve(prefix: &str) -> Result<(), Box<dyn Error>> {
    audit_to_stderr();
    let address = std::env::var("TEMPORAL_ADDRESS")?;
    let client = example_temporal::connect(&address).await?;
    let pool = sqlx::PgPool::connect(&std::env::var("DATABASE_URL")?).await?;
    let fleet = Fleet::new(prefix);
    let mut activities = Provisioning::for_fleet(
        fleet.clone(),
        pool,
        example_temporal::claim_keys()?.ok_or("the worker process needs CLAIM_SIGNING_KEYS")?,
    )
    .await?
    .with_observer(|record| {
        let line = serde_json::to_string(record).expect("a record serializes");
        println!("{JOURNAL_LINE}{line}");
    });
    if let Ok(ms) = std::env::var(SERVE_MIGRATION_WORK_MS) {
        let ms: u64 = ms
            .parse()
            .map_err(|e| format!("{SERVE_MIGRATION_WORK_MS}={ms}: {e}"))?;
        activities = activities.with_slow_migrations(Duration::from_millis(ms));
    }
    println!(
        "serving {} as {}",
        fleet.all_task_queues().join(" "),
        example_temporal::worker_identity()
    );
    example_temporal::with_workers(&client, &activities, std::future::pending()).await
}

/// Audit events on stderr: which tenant each activity input was verified for, or why it was
/// refused. Everything else only from warnings up.
fn audit_to_stderr() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = tracing_subscriber::filter::Targets::new()
        .with_default(tracing::Level::WARN)
        .with_target(tenant::AUDIT_TARGET, tracing::Level::DEBUG);
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .finish()
        .with(filter)
        .init();
}
