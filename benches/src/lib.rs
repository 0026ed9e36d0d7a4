//! The measuring harness the benchmarks in `benches/` share: each operation is timed as three
//! versions side by side, by criterion and in interleaved rounds whose per-round ratios to the
//! floor are what BENCHMARKS.md reports.

#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use criterion::Criterion;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{AssertSqlSafe, PgPool};

/// The names of the three versions of a group, as criterion and the report show them.
pub struct Versions {
    /// The version under test.
    pub subject: &'static str,
    /// What it is measured against (ratios are to this one).
    pub floor: &'static str,
    /// A third version, for scale.
    pub other: &'static str,
}

/// The repository benchmarks: the generated call against hand-written sqlx, and sea-query built
/// on every call.
pub const REPO: Versions = Versions {
    subject: "generated",
    floor: "handwritten",
    other: "sea_query_per_call",
};

/// One operation's ratios to the floor, from interleaved rounds.
struct Ratios {
    group: String,
    versions: [&'static str; 3],
    floor_us: f64,
    generated: Summary,
    sea_query: Summary,
    /// The subject's and the other's 10th-percentile batch time over the floor's.
    fast: [f64; 2],
}

struct Summary {
    median: f64,
    p10: f64,
    p25: f64,
    p75: f64,
}

impl Summary {
    fn of(mut values: Vec<f64>) -> Summary {
        values.sort_by(f64::total_cmp);
        let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
        Summary {
            median: at(0.5),
            p10: at(0.1),
            p25: at(0.25),
            p75: at(0.75),
        }
    }
}

static RATIOS: Mutex<Vec<Ratios>> = Mutex::new(Vec::new());

pub fn rounds() -> usize {
    std::env::var("TENANT_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(41)
}

/// `TENANT_BENCH_CPU=<pid of the PostgreSQL postmaster>` (a local server): the rounds measure
/// CPU time, the benchmark process's and its server backends' (every client backend of the
/// postmaster: the pools' connections; not the server's own workers), instead of the clock. On a machine other work keeps busy, a clock mostly measures waiting for a core; CPU
/// time is what each version makes the machine do, round trips included (their system calls
/// and wake-ups), not the idle wait for a reply. Linux only (`/proc/<pid>/schedstat`).
struct CpuClock {
    postmaster: String,
}

impl CpuClock {
    fn from_env() -> Option<CpuClock> {
        let postmaster = std::env::var("TENANT_BENCH_CPU").ok()?;
        assert!(
            std::fs::metadata(format!("/proc/{postmaster}/stat")).is_ok(),
            "TENANT_BENCH_CPU={postmaster}: no such process"
        );
        Some(CpuClock { postmaster })
    }

    /// Nanoseconds on a CPU, the first field of a `schedstat`.
    fn schedstat(path: &str) -> u64 {
        std::fs::read_to_string(path)
            .ok()
            .and_then(|text| text.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    }

    /// The server's client backends (looked up again at each reading, so that a backend a pool
    /// opened since is counted) and their CPU time so far.
    fn server(&self) -> std::collections::HashMap<String, u64> {
        let mut times = std::collections::HashMap::new();
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return times;
        };
        for entry in dir.flatten() {
            let pid = entry.file_name().to_string_lossy().into_owned();
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            // `pid (comm) state ppid ..`: the command may hold spaces and parentheses.
            let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
            if after.split_whitespace().nth(1) != Some(self.postmaster.as_str()) {
                continue;
            }
            // Client backends only (`postgres: user database host(port) ..`): the server's
            // workers (autovacuum above all, busy with other tests' tables) would add their
            // work to whichever batch they run in.
            let command =
                std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if command.contains("(") && !command.contains("worker") {
                let time = Self::schedstat(&format!("/proc/{pid}/schedstat"));
                times.insert(pid, time);
            }
        }
        times
    }

    /// The server's CPU time between two readings: each process's own difference (one that
    /// started since counts whole; one that exited since, such as an autovacuum worker, is
    /// left out rather than subtracted).
    fn server_delta(
        before: &std::collections::HashMap<String, u64>,
        after: &std::collections::HashMap<String, u64>,
    ) -> u64 {
        after
            .iter()
            .map(|(pid, t)| t.saturating_sub(before.get(pid).copied().unwrap_or(0)))
            .sum()
    }

    /// `TENANT_BENCH_SPLIT=1`: one line per batch on stderr, the client's and the server's CPU
    /// and the wall clock per iteration in µs, to tell a version's cost from the machine's
    /// state (a slower machine raises all three at once; a version's own cost, one side).
    fn split(version: usize, iterations: u64, client_ns: u64, server_ns: u64, wall: f64) {
        if std::env::var_os("TENANT_BENCH_SPLIT").is_none() {
            return;
        }
        let per = |ns: u64| ns as f64 / 1e3 / iterations as f64;
        eprintln!(
            "SPLIT v{version} client {:.1} server {:.1} wall {:.1}",
            per(client_ns),
            per(server_ns),
            wall * 1e6 / iterations as f64
        );
    }

    /// This process's CPU time so far, all its threads.
    fn client_ns() -> u64 {
        std::fs::read_dir("/proc/self/task")
            .map(|dir| {
                dir.flatten()
                    .map(|t| {
                        let tid = t.file_name().to_string_lossy().into_owned();
                        Self::schedstat(&format!("/proc/self/task/{tid}/schedstat"))
                    })
                    .sum()
            })
            .unwrap_or(0)
    }
}

/// How long one version's batch of a round runs: `TENANT_BENCH_BATCH_MS` milliseconds, 20 when
/// unset.
pub fn batch_seconds() -> f64 {
    std::env::var("TENANT_BENCH_BATCH_MS")
        .ok()
        .and_then(|ms| ms.parse::<f64>().ok())
        .unwrap_or(20.0)
        / 1e3
}

/// Criterion's group of the three versions, then the same three in interleaved rounds: each
/// round times a batch of each version back to back, in a rotating order, so drift of the
/// machine (and of SQLite's worker thread wake-ups) hits all three alike. The ratio of a round
/// is a version's batch time over the floor's; the median over rounds is what we report, and
/// what this returns for the subject (`None` when `TENANT_BENCH_ONLY` skips the group).
#[allow(clippy::too_many_arguments)]
pub fn compare<G, H, S, O1, O2, O3>(
    c: &mut Criterion,
    rt: &tokio::runtime::Runtime,
    versions: &Versions,
    group: &str,
    generated: G,
    handwritten: H,
    sea_query: S,
    reset: &dyn Fn(),
) -> Option<f64>
where
    G: AsyncFn() -> O1,
    H: AsyncFn() -> O2,
    S: AsyncFn() -> O3,
{
    // `TENANT_BENCH_ONLY=postgres/list_where` reruns one group without the rest.
    if std::env::var("TENANT_BENCH_ONLY").is_ok_and(|only| !group.contains(&only)) {
        return None;
    }
    let cpu = CpuClock::from_env();
    let batch = |version: usize, iterations: u64| -> f64 {
        let elapsed = rt.block_on(async {
            // The server's clock read outside the client's, so reading it is not counted.
            let server = cpu.as_ref().map(CpuClock::server);
            let client = cpu.as_ref().map(|_| CpuClock::client_ns());
            let started = Instant::now();
            for _ in 0..iterations {
                match version {
                    0 => drop(black_box(generated().await)),
                    1 => drop(black_box(handwritten().await)),
                    _ => drop(black_box(sea_query().await)),
                }
            }
            let wall = started.elapsed().as_secs_f64();
            match (&cpu, server, client) {
                (Some(cpu), Some(server), Some(client)) => {
                    let client = CpuClock::client_ns().saturating_sub(client);
                    let server = CpuClock::server_delta(&server, &cpu.server());
                    CpuClock::split(version, iterations, client, server, wall);
                    (client + server) as f64 * 1e-9
                }
                _ => wall,
            }
        });
        reset();
        elapsed
    };
    // Criterion times the same batches, so `reset` bounds what its samples leave behind too
    // (thousands of bulk inserts would otherwise grow the table under the later versions).
    let mut criterion_group = c.benchmark_group(group);
    criterion_group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(40);
    let names = [versions.subject, versions.floor, versions.other];
    for (version, name) in names.into_iter().enumerate() {
        criterion_group.bench_function(name, |b| {
            b.iter_custom(|iterations| Duration::from_secs_f64(batch(version, iterations)));
        });
    }
    criterion_group.finish();

    // Batches of about 20 ms (`TENANT_BENCH_BATCH_MS`), sized by the median of five probes of
    // the floor: one probe that hit another process's burst made batches of under a
    // millisecond, whose ratios spread from 0.4 to 2.
    let mut probes: Vec<f64> = (0..5).map(|_| batch(1, 20) / 20.0).collect();
    probes.sort_by(f64::total_cmp);
    // `TENANT_BENCH_ITERATIONS` fixes the batch instead: on a machine whose load comes and
    // goes, five probes can all land in a burst.
    let iterations = std::env::var("TENANT_BENCH_ITERATIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(((batch_seconds() / probes[2]) as u64).clamp(5, 20_000));
    let (mut generated_ratios, mut sea_query_ratios, mut floor) =
        (Vec::new(), Vec::new(), Vec::new());
    let mut batches: [Vec<f64>; 3] = Default::default();
    for round in 0..rounds() {
        let mut times = [0.0; 3];
        for k in 0..3 {
            let version = (round + k) % 3;
            times[version] = batch(version, iterations);
            batches[version].push(times[version]);
        }
        generated_ratios.push(times[0] / times[1]);
        sea_query_ratios.push(times[2] / times[1]);
        floor.push(times[1] / iterations as f64 * 1e6);
    }
    // Another process's burst only ever adds time to a batch, so each version's fastest
    // batches are the least disturbed: the ratio of their 10th percentiles, beside the median
    // of per-round ratios, for a machine too busy for the quartiles to be narrow.
    let [fast_subject, fast_floor, fast_other] = batches.map(|times| Summary::of(times).p10);
    let ratios = Ratios {
        group: group.to_owned(),
        versions: [versions.subject, versions.floor, versions.other],
        floor_us: Summary::of(floor).median,
        generated: Summary::of(generated_ratios),
        sea_query: Summary::of(sea_query_ratios),
        fast: [fast_subject / fast_floor, fast_other / fast_floor],
    };
    eprintln!(
        "{group}: {}/{} = {:.3} [{:.3}, {:.3}], {}/{} = {:.3}; fastest batches (p10): {:.3}, {:.3} ({} rounds of {iterations})",
        versions.subject,
        versions.floor,
        ratios.generated.median,
        ratios.generated.p25,
        ratios.generated.p75,
        versions.other,
        versions.floor,
        ratios.sea_query.median,
        ratios.fast[0],
        ratios.fast[1],
        rounds()
    );
    let median = ratios.generated.median;
    RATIOS.lock().unwrap().push(ratios);
    Some(median)
}

/// More than three versions of one operation in the same interleaved rounds, for a group whose
/// versions have more than one floor to compare with (the RLS benchmark's old and new models):
/// `run(v)` runs version `v` (an index into `names`) once, and each `(subject, floor)` of
/// `pairs` is reported as the median [p25, p75] over rounds of subject's batch time over
/// floor's, both from the same round. No criterion group: with five versions its samples would
/// triple the run, and the rounds are what BENCHMARKS.md reports. Measured like [`compare`]
/// (`TENANT_BENCH_CPU`, `TENANT_BENCH_ROUNDS`, `TENANT_BENCH_ONLY`). Returns each pair's median,
/// p25 and p75, in the order of `pairs` (empty when `TENANT_BENCH_ONLY` skips the group).
///
/// ```
/// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// let runs = [std::cell::Cell::new(0), std::cell::Cell::new(0)];
/// tenant_benches::compare_pairs(
///     &rt,
///     "doc/two_counters",
///     &["subject", "floor"],
///     &[(0, 1)],
///     async |v: usize| runs[v].set(runs[v].get() + 1),
///     &|| (),
/// );
/// // Both versions ran, in the same rounds (a warm-up batch, the probe, then the rounds).
/// assert!(runs[0].get() > 20 && runs[1].get() > 40);
/// ```
pub fn compare_pairs<R, O>(
    rt: &tokio::runtime::Runtime,
    group: &str,
    names: &[&'static str],
    pairs: &[(usize, usize)],
    run: R,
    reset: &dyn Fn(),
) -> Vec<[f64; 3]>
where
    R: AsyncFn(usize) -> O,
{
    if std::env::var("TENANT_BENCH_ONLY").is_ok_and(|only| !group.contains(&only)) {
        return Vec::new();
    }
    let cpu = CpuClock::from_env();
    // The wall clock too, per version: a CPU time above it means work on more than one core.
    let walls: Mutex<Vec<Vec<f64>>> = Mutex::new(vec![Vec::new(); names.len()]);
    let batch = |version: usize, iterations: u64| -> f64 {
        let elapsed = rt.block_on(async {
            let server = cpu.as_ref().map(CpuClock::server);
            let client = cpu.as_ref().map(|_| CpuClock::client_ns());
            let started = Instant::now();
            for _ in 0..iterations {
                drop(black_box(run(version).await));
            }
            let wall = started.elapsed().as_secs_f64();
            walls.lock().unwrap()[version].push(wall / iterations as f64 * 1e6);
            match (&cpu, server, client) {
                (Some(cpu), Some(server), Some(client)) => {
                    let client = CpuClock::client_ns().saturating_sub(client);
                    let server = CpuClock::server_delta(&server, &cpu.server());
                    CpuClock::split(version, iterations, client, server, wall);
                    (client + server) as f64 * 1e-9
                }
                _ => wall,
            }
        });
        reset();
        elapsed
    };
    // A warm-up batch of each (statement caches, the connection's first plans), in place of
    // criterion's; then batches of about `batch_seconds` (20 ms), sized on the first floor.
    // Operations of a few µs need long batches in CPU-time mode: a thread's CPU time moves by
    // scheduler ticks.
    for version in 0..names.len() {
        batch(version, 20);
    }
    let probe = batch(pairs[0].1, 20) / 20.0;
    let iterations = ((batch_seconds() / probe) as u64).clamp(5, 200_000);
    let mut ratios: Vec<Vec<f64>> = vec![Vec::new(); pairs.len()];
    let mut per_op: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    for round in 0..rounds() {
        let mut times = vec![0.0; names.len()];
        for k in 0..names.len() {
            let version = (round + k) % names.len();
            times[version] = batch(version, iterations);
        }
        for (i, &(subject, floor)) in pairs.iter().enumerate() {
            ratios[i].push(times[subject] / times[floor]);
        }
        for (version, time) in times.iter().enumerate() {
            per_op[version].push(time / iterations as f64 * 1e6);
        }
    }
    let mut table = RATIO_PAIRS.lock().unwrap();
    let walls = walls.into_inner().unwrap();
    for (version, times) in per_op.into_iter().enumerate() {
        eprintln!(
            "{group}: {} {:.1} µs per operation (median; wall clock {:.1} µs)",
            names[version],
            Summary::of(times).median,
            Summary::of(walls[version].clone()).median
        );
    }
    let mut summaries = Vec::with_capacity(pairs.len());
    for (i, &(subject, floor)) in pairs.iter().enumerate() {
        let s = Summary::of(std::mem::take(&mut ratios[i]));
        summaries.push([s.median, s.p25, s.p75]);
        eprintln!(
            "{group}: {}/{} = {:.3} [{:.3}, {:.3}] ({} rounds of {iterations})",
            names[subject],
            names[floor],
            s.median,
            s.p25,
            s.p75,
            rounds()
        );
        table.push(format!(
            "| {group} | {} / {} | **{:.3}** [{:.3}, {:.3}] |\n",
            names[subject], names[floor], s.median, s.p25, s.p75
        ));
    }
    summaries
}

/// CPU time so far of the PostgreSQL server's client backends, when `TENANT_BENCH_CPU` names
/// its postmaster (see [`compare`]): what a load test adds to its own process's CPU time so that
/// the database's share of a request is counted too. `None` when unset.
pub fn postgres_backends_cpu_ns() -> Option<u64> {
    CpuClock::from_env().map(|cpu| cpu.server().values().sum())
}

static RATIO_PAIRS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Prints the table of every group compared so far, and writes it to `target/<file>`
/// ([`write_target`]).
pub fn report(file: &str) {
    let ratios = RATIOS.lock().unwrap();
    let mut table = String::from(
        "| operation | subject, floor, other | floor | subject / floor (median [p25, p75]) | other / floor | fastest batches (p10): subject, other / floor |\n|---|---|---:|---:|---:|---:|\n",
    );
    for r in ratios.iter() {
        table += &format!(
            "| {} | {} | {:.1} µs | **{:.3}** [{:.3}, {:.3}] | {:.3} [{:.3}, {:.3}] | {:.3}, {:.3} |\n",
            r.group,
            r.versions.join(", "),
            r.floor_us,
            r.generated.median,
            r.generated.p25,
            r.generated.p75,
            r.sea_query.median,
            r.sea_query.p25,
            r.sea_query.p75,
            r.fast[0],
            r.fast[1]
        );
    }
    let pairs = RATIO_PAIRS.lock().unwrap();
    if !pairs.is_empty() {
        table += "\n| operation | subject / floor | median [p25, p75] |\n|---|---|---:|\n";
        table.extend(pairs.iter().map(String::as_str));
    }
    println!(
        "\nRatios to the floor, {} interleaved rounds per operation:\n\n{table}",
        rounds()
    );
    write_target(file, &table);
}

/// Writes `text` to `<target>/<file>`: `CARGO_TARGET_DIR` when set, else the workspace's
/// `target/` (this crate's manifest directory is one below the workspace's).
pub fn write_target(file: &str, text: &str) {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || {
            let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
            manifest.parent().unwrap_or(manifest).join("target")
        },
        std::path::PathBuf::from,
    );
    let path = target.join(file);
    match std::fs::write(&path, text) {
        Ok(()) => println!("(also written to {})", path.display()),
        Err(e) => eprintln!("could not write {}: {e}", path.display()),
    }
}

/// A pool of one connection to the PostgreSQL database at `url`, whose search path is `schema`:
/// every benchmark version gets a connection of its own (sharing one skews the interleaved
/// rounds; see BENCHMARKS.md).
pub async fn pool_on(url: &str, schema: &str) -> PgPool {
    let options: PgConnectOptions = url.parse().unwrap();
    PgPoolOptions::new()
        .max_connections(1)
        .connect_with(options.options([("search_path", schema)]))
        .await
        .unwrap()
}

/// Creates `schema` through `admin`, then [`pool_on`] it.
pub async fn fresh_schema(admin: &PgPool, url: &str, schema: &str) -> PgPool {
    sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(admin)
        .await
        .unwrap();
    pool_on(url, schema).await
}
