//! Migrations over many tenant schemas (PostgreSQL only: needs DATABASE_URL): one migration
//! applied to 200 schemas by `TenantMigrations::run` with 1 and with 4 workers, beside the
//! hand-written equivalent (a loop over the schemas, one transaction each: set the search path,
//! run the SQL, commit; no lock, no record, no ownership check), sequential and 4 at a time.
//!
//! ```sh
//! DATABASE_URL=postgres://... cargo bench -p tenant-benches --bench migrations
//! TENANT_MIGRATION_SCHEMAS=1000 TENANT_BENCH_ROUNDS=3 cargo bench -p tenant-benches --bench migrations
//! ```
//!
//! Each round prepares, per variant, a fresh set of schemas (`TenantSchema::create`, then
//! migration 1 by the runner: a `notes` table with 50 rows; untimed), then times migration 2
//! (a column with a default and an index) over them, then drops them. Variants run in a
//! rotating order each round, so the drift of a shared machine hits all alike; the report gives
//! the median time per variant over rounds (`TENANT_BENCH_ROUNDS`, default 5) and the medians of
//! per-round ratios. Written to `target/bench-migrations.md`.

use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use sqlx::postgres::PgPoolOptions;
use sqlx::{AssertSqlSafe, PgPool};
use tenant::ProvisionCtx;
use tenant::sqlx::{MigrationTarget, TenantMigrations, TenantSchema};

const V1: &str = "CREATE TABLE notes (id BIGINT PRIMARY KEY, body TEXT NOT NULL);\n\
                  INSERT INTO notes SELECT i, 'note ' || i FROM generate_series(1, 50) i;";
const V2: &str = "ALTER TABLE notes ADD COLUMN archived BOOLEAN NOT NULL DEFAULT false;\n\
                  CREATE INDEX notes_archived ON notes (archived);";

#[derive(Clone, Copy, PartialEq)]
enum Variant {
    Runner(usize),
    ByHand(usize),
}

impl Variant {
    fn name(self) -> String {
        match self {
            Variant::Runner(w) => format!("TenantMigrations, {w} worker(s)"),
            Variant::ByHand(w) => format!("by hand, {w} at a time"),
        }
    }
}

const VARIANTS: [Variant; 4] = [
    Variant::Runner(1),
    Variant::ByHand(1),
    Variant::Runner(4),
    Variant::ByHand(4),
];

fn env(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn migrations(latest: i64) -> TenantMigrations {
    let all = TenantMigrations::new().step(1, "notes", V1);
    if latest == 1 {
        all
    } else {
        all.step(2, "archived notes", V2)
    }
}

/// `n` fresh schemas at migration 1.
async fn prepare(pool: &PgPool, round: usize, n: usize) -> Vec<MigrationTarget> {
    let provision = ProvisionCtx::new("bench: tenant schemas").unwrap();
    let targets: Vec<MigrationTarget> = (0..n)
        .map(|i| {
            MigrationTarget::new(
                format!("bench-{i}").parse().unwrap(),
                pool.clone(),
                format!("bench_mig_{}_{round}_{i}", std::process::id())
                    .parse()
                    .unwrap(),
            )
        })
        .collect();
    futures_util::stream::iter(&targets)
        .for_each_concurrent(4, |t| async {
            TenantSchema::new()
                .create(&provision, pool, t.schema())
                .await
                .unwrap();
        })
        .await;
    migrations(1)
        .workers(4)
        .run(&provision, targets.clone())
        .await
        .unwrap()
        .ensure()
        .unwrap();
    targets
}

async fn drop_all(pool: &PgPool, targets: &[MigrationTarget]) {
    for chunk in targets.chunks(50) {
        let names: Vec<String> = chunk.iter().map(|t| t.schema().to_string()).collect();
        sqlx::raw_sql(AssertSqlSafe(format!(
            "DROP SCHEMA {} CASCADE",
            names.join(", ")
        )))
        .execute(pool)
        .await
        .unwrap();
    }
}

/// What an application without the runner writes: per schema, one transaction with the
/// search path set and the SQL run.
async fn by_hand(pool: &PgPool, targets: &[MigrationTarget], at_once: usize) {
    futures_util::stream::iter(targets)
        .for_each_concurrent(at_once, |t| async move {
            let mut tx = pool.begin().await.unwrap();
            sqlx::query("SELECT set_config('search_path', $1, true)")
                .bind(t.schema().as_str())
                .execute(&mut *tx)
                .await
                .unwrap();
            sqlx::raw_sql(AssertSqlSafe(V2))
                .execute(&mut *tx)
                .await
                .unwrap();
            tx.commit().await.unwrap();
        })
        .await;
}

async fn time(pool: &PgPool, variant: Variant, round: usize, n: usize) -> Duration {
    let targets = prepare(pool, round, n).await;
    let provision = ProvisionCtx::new("bench: migration 2").unwrap();
    let started = Instant::now();
    match variant {
        Variant::Runner(workers) => {
            let report = migrations(2)
                .workers(workers)
                .run(&provision, targets.clone())
                .await
                .unwrap()
                .ensure()
                .unwrap();
            assert!(report.migrated.iter().all(|m| m.applied == [2]));
        }
        Variant::ByHand(at_once) => by_hand(pool, &targets, at_once).await,
    }
    let elapsed = started.elapsed();
    drop_all(pool, &targets).await;
    elapsed
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let Ok(url) = std::env::var("DATABASE_URL") else {
        eprintln!("notice: the migrations bench needs DATABASE_URL; skipped");
        return;
    };
    // `cargo bench` passes `--bench`; `cargo test --benches` runs it with no argument: then
    // only check that it builds, as the other harness-free benches do.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let n = env("TENANT_MIGRATION_SCHEMAS", 200);
    let rounds = env("TENANT_BENCH_ROUNDS", 5);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .connect(&url)
            .await
            .unwrap();
        let mut times: Vec<Vec<f64>> = vec![Vec::new(); VARIANTS.len()];
        for round in 0..rounds {
            for k in 0..VARIANTS.len() {
                let i = (k + round) % VARIANTS.len();
                let elapsed = time(&pool, VARIANTS[i], round * VARIANTS.len() + i, n).await;
                times[i].push(elapsed.as_secs_f64() * 1e3);
                eprintln!(
                    "round {round}: {:<32} {:>8.1} ms",
                    VARIANTS[i].name(),
                    elapsed.as_secs_f64() * 1e3
                );
            }
        }
        let ratio = |a: usize, b: usize| {
            median(times[a].iter().zip(&times[b]).map(|(x, y)| x / y).collect())
        };
        let mut report = format!(
            "# Migrations over {n} schemas ({rounds} rounds, medians)\n\n\
             | variant | time (ms) | per schema (ms) |\n|---|---:|---:|\n"
        );
        for (i, variant) in VARIANTS.iter().enumerate() {
            let m = median(times[i].clone());
            report.push_str(&format!(
                "| {} | {m:.0} | {:.2} |\n",
                variant.name(),
                m / n as f64
            ));
        }
        report.push_str(&format!(
            "\n- runner / by hand, 1 worker: {:.2}x\n- runner / by hand, 4 at a time: {:.2}x\n\
             - runner, 1 worker / 4 workers: {:.2}x (speed-up)\n\
             - by hand, 1 / 4 at a time: {:.2}x\n",
            ratio(0, 1),
            ratio(2, 3),
            ratio(0, 2),
            ratio(1, 3),
        ));
        println!("{report}");
        tenant_benches::write_target("bench-migrations.md", &report);
    });
}
