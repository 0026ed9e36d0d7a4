//! A worker process killed (SIGKILL) in the middle of tenant activities, on the Temporal server
//! at `TEMPORAL_ADDRESS` and the PostgreSQL database at `DATABASE_URL` (`.ci/run` starts both).
//!
//! Worker A (a process of its own serving the fleet, `tests/common/serve.rs`, its migrations made
//! slow) takes the migrations of three tenants'
//! provisioning workflows, and is killed while all three run. The server notices within the
//! migration's heartbeat timeout and retries each on worker B, a fresh process: attempt 2, which
//! verifies its tenant claim against the registry again before the body runs. Two tenants'
//! workflows complete, each with its own tenant's result and rows; the third tenant was
//! deactivated between the attempts, and its retry is refused with the typed, non-retryable
//! failure, its body never run.
//!
//! The workers poll a fleet of task queues of the test's own, so neither the end-to-end test nor
//! another run on the same server takes their tasks.

use example_temporal as provisioning;

use std::error::Error;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[path = "common/serve.rs"]
mod serve;

use serve::journal_record;

use provisioning::{ActivityRecord, Fleet, ProvisionRequest, ProvisionTenant, Provisioning};
use sqlx::{AssertSqlSafe, PgPool};
use temporalio_client::errors::WorkflowGetResultError;
use temporalio_client::{Client, WorkflowFetchHistoryOptions, WorkflowGetResultOptions};
use temporalio_common::protos::temporal::api::enums::v1::TimeoutType;
use temporalio_common::protos::temporal::api::failure::v1::failure::FailureInfo;
use temporalio_common::protos::temporal::api::history::v1::HistoryEvent;
use temporalio_common::protos::temporal::api::history::v1::history_event::Attributes;
use tenant::sqlx::SqlRegistry;
use tenant::temporal::{INPUT_REJECTED, RouteExt};
use tenant::{Plan, TenantCtx};

/// The whole scenario's bound: the kill is detected after the heartbeat timeout (5 s), the
/// retry waits its backoff (1 s), and a workflow task left on the dead worker's sticky queue
/// waits out its schedule-to-start timeout (10 s) before another worker takes it.
const DEADLINE: Duration = Duration::from_secs(90);
/// How long each of A's migrations would take: far longer than the test, so A is always killed
/// in the middle of them.
const SLOW_MIGRATION_MS: &str = "120000";

fn temporal_address() -> Option<String> {
    tenant_test_support::server_var("TEMPORAL_ADDRESS", "the Temporal worker-kill test")
}

/// A worker process, killed and reaped when dropped (a failed assertion or the deadline
/// included), with what it printed.
struct WorkerProcess {
    name: &'static str,
    child: Child,
    identity: String,
    /// Each stdout line, with when the test read it.
    stdout: tokio::sync::mpsc::UnboundedReceiver<(Instant, String)>,
    /// The stdout lines taken from `stdout` so far.
    read: Vec<String>,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl WorkerProcess {
    fn spawn(
        name: &'static str,
        address: &str,
        database_url: &str,
        fleet: &Fleet,
        slow_migrations: bool,
    ) -> Result<Self, Box<dyn Error>> {
        // This test binary again, running only the worker process's body.
        let mut command = Command::new(std::env::current_exe()?);
        command
            .args([serve::SERVE_TEST, "--exact", "--ignored", "--nocapture"])
            .env("TEMPORAL_ADDRESS", address)
            .env("DATABASE_URL", database_url)
            .env(serve::SERVE_PREFIX, fleet.prefix())
            .env(example_temporal::CLAIM_KEYS_VAR, serve::TEST_CLAIM_KEYS)
            .env_remove(serve::SERVE_MIGRATION_WORK_MS)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if slow_migrations {
            command.env(serve::SERVE_MIGRATION_WORK_MS, SLOW_MIGRATION_MS);
        }
        let mut child = command.spawn()?;
        let identity = serve::worker_identity_of(child.id());
        let (sender, stdout) = tokio::sync::mpsc::unbounded_channel();
        let out = BufReader::new(child.stdout.take().expect("piped stdout"));
        std::thread::spawn(move || {
            for line in out.lines().map_while(Result::ok) {
                eprintln!("[{name} stdout] {line}");
                if sender.send((Instant::now(), line)).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let err = BufReader::new(child.stderr.take().expect("piped stderr"));
        let kept = stderr.clone();
        std::thread::spawn(move || {
            for line in err.lines().map_while(Result::ok) {
                eprintln!("[{name} stderr] {line}");
                kept.lock().unwrap().push(line);
            }
        });
        Ok(WorkerProcess {
            name,
            child,
            identity,
            stdout,
            read: Vec::new(),
            stderr,
        })
    }

    /// Reads stdout until a line satisfies `wanted`, for at most `timeout`.
    async fn wait_for(
        &mut self,
        what: &str,
        timeout: Duration,
        mut wanted: impl FnMut(&str) -> bool,
    ) -> Result<(Instant, String), Box<dyn Error>> {
        let name = self.name;
        let found = tokio::time::timeout(timeout, async {
            while let Some((at, line)) = self.stdout.recv().await {
                self.read.push(line.clone());
                if wanted(&line) {
                    return Ok((at, line));
                }
            }
            Err(format!("worker {name} exited before {what}"))
        })
        .await
        .map_err(|_| format!("worker {name}: no {what} within {timeout:?}"))??;
        Ok(found)
    }

    /// Waits for the journal record of the migration of each of `tenants`, as `wanted` says.
    async fn migrations(
        &mut self,
        tenants: &[&TenantCtx],
        timeout: Duration,
        wanted: impl Fn(&ActivityRecord) -> bool,
    ) -> Result<Vec<(Instant, ActivityRecord)>, Box<dyn Error>> {
        let mut found: Vec<(Instant, ActivityRecord)> = Vec::new();
        let migrate = Provisioning::run_tenant_migrations.name();
        while found.len() < tenants.len() {
            let what = format!("migration records for {} tenants", tenants.len());
            let (at, line) = self
                .wait_for(&what, timeout, |line| {
                    journal_record(line).is_some_and(|record| {
                        record.activity == migrate
                            && tenants.iter().any(|ctx| {
                                record.tenant.as_deref() == Some(ctx.tenant_id().as_str())
                            })
                            && !found.iter().any(|(_, seen)| seen.tenant == record.tenant)
                    })
                })
                .await?;
            let record = journal_record(&line).expect("matched a record");
            assert!(wanted(&record), "worker {}: {record:?}", self.name);
            found.push((at, record));
        }
        Ok(found)
    }

    /// Every stdout line so far.
    fn stdout(&mut self) -> Vec<String> {
        while let Ok((_, line)) = self.stdout.try_recv() {
            self.read.push(line);
        }
        self.read.clone()
    }

    /// The journal records among [`stdout`](Self::stdout).
    fn records(&mut self) -> Vec<ActivityRecord> {
        self.stdout()
            .iter()
            .filter_map(|line| journal_record(line))
            .collect()
    }

    fn stderr(&self) -> Vec<String> {
        self.stderr.lock().unwrap().clone()
    }

    fn kill(&mut self) -> std::io::Result<()> {
        // `Child::kill` is SIGKILL on Unix: no shutdown, no goodbye to the server.
        self.child.kill()?;
        self.child.wait().map(drop)
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `url` with its connections' search path set to `schema`: the worker processes share the
/// test's fresh schema, where the registry is.
fn with_search_path(url: &str, schema: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}options=-c%20search_path%3D{schema}")
}

/// The body of a worker process of [`WorkerProcess::spawn`], which runs this binary again with
/// only this function selected and the fleet's prefix set; not a test of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the worker process the worker-kill test spawns"]
async fn worker_process() -> Result<(), Box<dyn Error>> {
    let prefix = std::env::var(serve::SERVE_PREFIX).map_err(|_| {
        format!(
            "{} is not set: run by the worker-kill test",
            serve::SERVE_PREFIX
        )
    })?;
    serve::serve(&prefix).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_killed_mid_activity() -> Result<(), Box<dyn Error>> {
    let Some(address) = temporal_address() else {
        return Ok(());
    };
    let Some(pool) = tenant_test_support::postgres("the Temporal worker-kill test").await else {
        return Ok(());
    };
    let url = std::env::var("DATABASE_URL")?;
    let schema: String = sqlx::query_scalar("SELECT current_schema()")
        .fetch_one(&pool)
        .await?;
    let run = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos();
    let tenants = [
        ("acme", Plan::Enterprise),
        ("globex", Plan::Free),
        ("initech", Plan::Pro),
    ]
    .map(|(id, plan)| {
        TenantCtx::trusted(
            id.parse().unwrap(),
            format!("tenant_wk_{id}_{run}").parse().unwrap(),
            plan,
        )
    });
    let client = provisioning::connect(&address).await?;
    let scenario = Scenario {
        address: &address,
        database_url: with_search_path(&url, &schema),
        client: &client,
        pool: &pool,
        fleet: Fleet::new(format!("wkill-{run}")),
        run,
    };
    let outcome = match tokio::time::timeout(DEADLINE, scenario.run(&tenants)).await {
        Ok(outcome) => outcome,
        Err(_) => Err(format!("the worker-kill scenario took more than {DEADLINE:?}").into()),
    };
    // The tenants' schemas are outside the test's own.
    for ctx in &tenants {
        sqlx::query(AssertSqlSafe(format!(
            "DROP SCHEMA IF EXISTS {} CASCADE",
            ctx.schema_name()
        )))
        .execute(&pool)
        .await?;
    }
    outcome
}

struct Scenario<'a> {
    address: &'a str,
    database_url: String,
    client: &'a Client,
    pool: &'a PgPool,
    fleet: Fleet,
    run: u128,
}

impl Scenario<'_> {
    async fn run(&self, [acme, globex, initech]: &[TenantCtx; 3]) -> Result<(), Box<dyn Error>> {
        let started_at = Instant::now();
        let registrar = Provisioning::for_fleet(
            self.fleet.clone(),
            self.pool.clone(),
            serve::TEST_CLAIM_KEYS.parse()?,
        )
        .await?;
        for ctx in [acme, globex, initech] {
            registrar.register(ctx, "worker-kill tenant").await?;
        }

        // 1. Worker A, whose migrations take far longer than the test.
        let mut a = WorkerProcess::spawn("A", self.address, &self.database_url, &self.fleet, true)?;
        let mut handles = Vec::new();
        for ctx in [acme, globex, initech] {
            let id = format!("provision-{}-{}", ctx.tenant_id(), self.run);
            let mut options = self
                .fleet
                .workflow_route(ctx)
                .workflow_start_options(id.clone());
            // Should the test die before the workflows end, they end on their own.
            options.execution_timeout = Some(Duration::from_secs(300));
            // The starter signs each tenant's claim; the worker processes verify it.
            let request: ProvisionRequest = registrar
                .provision_request(ctx.tenant_id(), format!("owner-of-{}", ctx.tenant_id()))
                .await?;
            let handle = self
                .client
                .start_workflow(ProvisionTenant::run, request.into(), options)
                .await?;
            handles.push((ctx, id, handle));
        }

        // 2. All three migrations running on A, each for its own workflow's tenant.
        let a_identity = a.identity.clone();
        let first = a
            .migrations(
                &[acme, globex, initech],
                Duration::from_secs(45),
                |record| record.attempt == 1 && record.worker == a_identity,
            )
            .await?;
        for (_, record) in &first {
            assert_eq!(
                record.workflow_id,
                Some(format!(
                    "provision-{}-{}",
                    record.tenant.as_deref().unwrap(),
                    self.run
                ))
            );
        }
        let mid_activity = first.iter().map(|(at, _)| at).max().unwrap().elapsed();

        // 3. Killed mid-activity; initech deactivated while no worker runs its migration.
        a.kill()?;
        let killed = Instant::now();
        let killed_wall = SystemTime::now();
        let a_records = a.records();
        let a_stderr = a.stderr();
        let registry = SqlRegistry::new(self.pool.clone());
        assert!(registry.deactivate(initech.tenant_id()).await?);

        // 4. Worker B, a fresh process, takes the retries.
        let mut b =
            WorkerProcess::spawn("B", self.address, &self.database_url, &self.fleet, false)?;
        let (b_ready, _) = b
            .wait_for("`serving` line", Duration::from_secs(30), |line| {
                line.starts_with("serving ")
            })
            .await?;
        let b_identity = b.identity.clone();
        let retried = b
            .migrations(&[acme, globex], Duration::from_secs(45), |record| {
                record.attempt == 2 && record.worker == b_identity
            })
            .await?;

        // 5. The two active tenants' workflows complete, each with its own tenant's result.
        for (ctx, id, handle) in &handles[..2] {
            let report = handle
                .get_result(WorkflowGetResultOptions::default())
                .await
                .map_err(|e| format!("{id}: {e}"))?;
            assert_eq!(report.info.tenant_id, ctx.tenant_id().as_str(), "{id}");
            assert_eq!(report.info.schema_name, ctx.schema_name().as_str(), "{id}");
            assert_eq!(report.info.plan, ctx.plan().to_string(), "{id}");
            assert_eq!(report.schema_version, provisioning::SCHEMA_VERSION, "{id}");
            assert_eq!(report.state, "active", "{id}");
        }
        // The deactivated tenant's workflow fails: its retry was refused.
        let (_, initech_id, initech_handle) = &handles[2];
        match initech_handle
            .get_result(WorkflowGetResultOptions::default())
            .await
        {
            Err(WorkflowGetResultError::Failed(_)) => {}
            other => panic!("{initech_id}: {other:?}"),
        }
        let completed_at = started_at.elapsed();

        // 6. What the server recorded: attempt 1 timed out on its heartbeat, attempt 2 ran on B;
        //    for initech, B refused it for good.
        for (ctx, id, handle) in &handles {
            let events = handle
                .fetch_history(WorkflowFetchHistoryOptions::default())
                .into_events()
                .await?;
            let started = migration_started(&events).unwrap_or_else(|| panic!("{id}: no start"));
            assert_eq!(started.attempt, 2, "{id}");
            assert_eq!(started.identity, b.identity, "{id}");
            let last_failure = started.last_failure.as_ref().expect("attempt 1's failure");
            match &last_failure.failure_info {
                Some(FailureInfo::TimeoutFailureInfo(timeout)) => {
                    assert_eq!(timeout.timeout_type, TimeoutType::Heartbeat as i32, "{id}")
                }
                other => panic!("{id}: attempt 1 ended with {other:?}"),
            }
            let failed = events.iter().find_map(|event| match &event.attributes {
                Some(Attributes::ActivityTaskFailedEventAttributes(failed)) => Some(failed),
                _ => None,
            });
            if ctx.tenant_id() == initech.tenant_id() {
                let failed = failed.unwrap_or_else(|| panic!("{id}: no activity failure"));
                assert_eq!(failed.identity, b.identity, "{id}");
                let failure = failed.failure.as_ref().expect("failure");
                match &failure.failure_info {
                    Some(FailureInfo::ApplicationFailureInfo(info)) => {
                        assert_eq!(info.r#type, INPUT_REJECTED, "{id}");
                        assert!(info.non_retryable, "{id}");
                    }
                    other => panic!("{id}: {other:?}"),
                }
                assert!(failure.message.contains("not active"), "{id}: {failure:?}");
            } else {
                assert!(failed.is_none(), "{id}: {failed:?}");
            }
        }

        // 7. B verified each claim again before running the body (its audit events), and ran
        //    no body for initech.
        let b_stderr = b.stderr();
        for ctx in [acme, globex] {
            assert!(
                b_stderr
                    .iter()
                    .any(|line| line.contains("tenant activity started")
                        && line.contains(ctx.tenant_id().as_str())
                        && line.contains(Provisioning::run_tenant_migrations.name())),
                "B did not verify {}'s claim: {b_stderr:#?}",
                ctx.tenant_id()
            );
        }
        assert!(
            b_stderr
                .iter()
                .any(|line| line.contains("activity input rejected") && line.contains("not active")),
            "B did not refuse initech's retry: {b_stderr:#?}"
        );
        assert!(
            !a_stderr.iter().any(|line| line.contains("rejected")),
            "{a_stderr:#?}"
        );
        let b_records = b.records();
        // A ran the first two activities of each workflow; B the retries and what followed,
        // except for initech, whose workflow ended at the refusal.
        assert_eq!(a_records.len(), 6, "{a_records:#?}");
        assert_eq!(b_records.len(), 6, "{b_records:#?}");
        let records: Vec<ActivityRecord> = a_records.into_iter().chain(b_records).collect();
        // No activity ever ran for another tenant than its workflow's, nor for initech on B.
        for record in &records {
            let tenant = record.tenant.as_deref().expect("tenant activities only");
            assert_eq!(
                record.workflow_id,
                Some(format!("provision-{tenant}-{}", self.run)),
                "{record:?}"
            );
            assert_eq!(record.fairness_key.as_deref(), Some(tenant), "{record:?}");
            assert!(
                !(tenant == initech.tenant_id().as_str() && record.worker == b.identity),
                "{record:?}"
            );
        }

        // 8. Each tenant's rows in its own schema: the two completed tenants migrated with their
        //    owner; initech's status never written (attempt 1 was killed, attempt 2 refused).
        for ctx in [acme, globex] {
            let schema = ctx.schema_name().as_str();
            let status: (String, String, i64) = sqlx::query_as(AssertSqlSafe(format!(
                "SELECT tenant_id, state, schema_version FROM {schema}.tenant_status"
            )))
            .fetch_one(self.pool)
            .await?;
            assert_eq!(
                status,
                (
                    ctx.tenant_id().to_string(),
                    "active".to_owned(),
                    i64::from(provisioning::SCHEMA_VERSION)
                )
            );
            let members: Vec<(String, String)> = sqlx::query_as(AssertSqlSafe(format!(
                "SELECT tenant_id, user_id FROM {schema}.memberships"
            )))
            .fetch_all(self.pool)
            .await?;
            assert_eq!(
                members,
                [(
                    ctx.tenant_id().to_string(),
                    format!("owner-of-{}", ctx.tenant_id())
                )]
            );
        }
        // The kill may have come before attempt 1's schema creation committed, or after.
        let initech_status = format!("{}.tenant_status", initech.schema_name());
        let exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
            .bind(&initech_status)
            .fetch_one(self.pool)
            .await?;
        if exists {
            let rows: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
                "SELECT count(*) FROM {initech_status}"
            )))
            .fetch_one(self.pool)
            .await?;
            assert_eq!(rows, 0);
        }

        // 9. Figures.
        println!("worker-kill figures:");
        println!("  last attempt-1 start seen on A -> SIGKILL: {mid_activity:?}");
        println!(
            "  SIGKILL -> B serving: {:?}",
            b_ready.duration_since(killed)
        );
        for (at, record) in &retried {
            println!(
                "  SIGKILL -> attempt {} of {} for {} seen on B: {:?}",
                record.attempt,
                record.activity,
                record.tenant.as_deref().unwrap_or("-"),
                at.duration_since(killed)
            );
        }
        for (_, id, handle) in &handles {
            let events = handle
                .fetch_history(WorkflowFetchHistoryOptions::default())
                .into_events()
                .await?;
            let event = migration_started_event(&events).expect("started");
            println!(
                "  SIGKILL -> server started attempt 2 of {id}: {:?}",
                time_of(event)
                    .duration_since(killed_wall)
                    .unwrap_or_default()
            );
            // The workflow task after the migration first goes to the dead worker's sticky
            // queue, and waits out its schedule-to-start timeout before B takes it.
            let sticky_timeouts = events
                .iter()
                .filter(|event| {
                    matches!(
                        event.attributes,
                        Some(Attributes::WorkflowTaskTimedOutEventAttributes(_))
                    )
                })
                .count();
            let completed = events.iter().find(|event| {
                matches!(
                    &event.attributes,
                    Some(Attributes::ActivityTaskCompletedEventAttributes(done))
                        if done.started_event_id == event_id_of_started(&events)
                )
            });
            let next = completed.and_then(|completed| {
                events.iter().find(|event| {
                    event.event_id > completed.event_id
                        && matches!(
                            event.attributes,
                            Some(Attributes::ActivityTaskScheduledEventAttributes(_))
                        )
                })
            });
            if let (Some(completed), Some(next)) = (completed, next) {
                println!(
                    "  {id}: migration done -> next activity scheduled: {:?} \
                     (workflow tasks timed out on a sticky queue: {sticky_timeouts})",
                    time_of(next)
                        .duration_since(time_of(completed))
                        .unwrap_or_default()
                );
            }
        }
        println!(
            "  attempts of each migration: 2 (1 on A, killed; 1 on B); activity records: {}",
            records.len()
        );
        println!(
            "  workflows: 2 completed for their tenants, 1 refused on retry (tenant deactivated), \
             in {completed_at:?} from the start"
        );
        Ok(())
    }
}

fn time_of(event: &HistoryEvent) -> SystemTime {
    event
        .event_time
        .expect("event time")
        .try_into()
        .expect("a time after 1970")
}

fn event_id_of_started(events: &[HistoryEvent]) -> i64 {
    migration_started_event(events).map_or(-1, |event| event.event_id)
}

/// The started event of the migration activity (written when its last attempt ended).
fn migration_started_event(events: &[HistoryEvent]) -> Option<&HistoryEvent> {
    let scheduled = events.iter().find_map(|event| match &event.attributes {
        Some(Attributes::ActivityTaskScheduledEventAttributes(scheduled))
            if scheduled.activity_type.as_ref().map(|t| t.name.as_str())
                == Some(Provisioning::run_tenant_migrations.name()) =>
        {
            Some(event.event_id)
        }
        _ => None,
    })?;
    events.iter().find(|event| {
        matches!(
            &event.attributes,
            Some(Attributes::ActivityTaskStartedEventAttributes(started))
                if started.scheduled_event_id == scheduled
        )
    })
}

fn migration_started(
    events: &[HistoryEvent],
) -> Option<
    &temporalio_common::protos::temporal::api::history::v1::ActivityTaskStartedEventAttributes,
> {
    match &migration_started_event(events)?.attributes {
        Some(Attributes::ActivityTaskStartedEventAttributes(started)) => Some(started),
        _ => None,
    }
}
