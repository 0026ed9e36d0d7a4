//! A load test of the request boundary: the example service (`examples/service`) over real HTTP
//! on 127.0.0.1, with `TenantLayer` + `CachedRegistry` against the same handlers without
//! tenancy, then the same load while a second client floods unknown `X-Tenant-ID`s.
//!
//! ```sh
//! cargo bench -p tenant-benches --bench load                          # SQLite, ~1-2 min
//! DATABASE_URL=postgres://... cargo bench -p tenant-benches --bench load   # and PostgreSQL
//! TENANT_LOAD_REQUESTS=50000 TENANT_BENCH_ROUNDS=11 cargo bench -p tenant-benches --bench load
//! # the service's CPU per request steady enough to tell 3% (`FairLayer`'s cost over HTTP):
//! # the whole bench on one CPU, no wake-ups across CPUs (SQLite; build it first, unpinned)
//! TENANT_BENCH_ONLY=sqlite TENANT_NOISY=0 TENANT_BENCH_ROUNDS=15 taskset -c 1 cargo bench -p tenant-benches --bench load
//! ```
//!
//! Bounded: every run sends a fixed number of live requests (`TENANT_LOAD_REQUESTS`, default
//! 20,000; ten times as many for `/whoami`, so that its runs last as long) over
//! `TENANT_LOAD_CONNECTIONS` keep-alive connections (default 16); the flood runs
//! only while a live run does (and never sends more than ten times as many requests). Runs are
//! interleaved in rounds (`TENANT_BENCH_ROUNDS`, default 9), in a rotating order, so that the
//! drift of a shared machine hits every variant alike; the report gives medians over rounds and
//! the median of per-round ratios. `TENANT_BENCH_ONLY=sqlite` (or `postgres`) runs one backend.
//! SQLite is one in-memory connection (`TENANT_LOAD_SQLITE_CONNECTIONS`: the example's fenced
//! transactions run one at a time, and more connections only wait on each other);
//! `TENANT_LOAD_PROFILE=<n>` runs the `n`th run of [`RUNS`] alone, over and over, for a profiler.
//!
//! The variants, all served by one process from one database (the same rows):
//! - **plain**: the example's handlers with no tenancy layer; one `TenantCtx`, resolved once at
//!   start, is put in every request's extensions (`axum::Extension`), where the handlers'
//!   extractor finds it. The handlers do the same work as in the service, minus tenancy.
//! - **tenant**: the example's router as it runs: `TenantLayer` resolving `X-Tenant-ID` through
//!   `CachedRegistry` over the SQL registry, on every request.
//! - **tenant + flood**: the same, while a second client sends unknown ids (random, valid
//!   grammar) and malformed ones (one in eight) as fast as `TENANT_LOAD_FLOOD_CONNECTIONS`
//!   connections (default 8) allow.
//! - **tenant + flood, no guard**: the same flood against `TenantLayer` over `CachedRegistry`
//!   alone (the boundary before `FloodGuard`).
//! - **tenant + flood, refused by an oracle**: the floor: the same flood answered, in front of
//!   the tenant router, with a real refusal's bytes by an oracle that knows the live tenants, so
//!   that each refusal costs the sockets' work and nothing else.
//!
//! Two workloads: `GET /invoices/{id}` (a point query by key, the common case), and
//! `GET /whoami` (no database at all: the worst case for the boundary's share of the time).
//! Live requests alternate between tenants acme and globex, which hold 100 invoices each.
//!
//! No tracing subscriber is installed: the audit events and spans cost their disabled-callsite
//! check only, as in a service whose subscriber filters them out. Client and server share the
//! machine (two runtimes of two threads each, and the flood's generator on a third of one
//! thread), as a load generator on the same host does; so besides requests per second, each
//! run measures the service's CPU per live request (its threads, and PostgreSQL's backends with
//! `TENANT_BENCH_CPU=<postmaster pid>`), which the generators' share of the cores does not move.
//!
//! Then `FairLayer`'s own cost, in-process (the router with and without it, called through
//! tower), and the noisy-neighbour scenarios (see [`noisy`]; `TENANT_NOISY=0` skips them;
//! `TENANT_LOAD=0` skips the load runs before them).
//! Written to `target/bench-load.md`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use example_service::{Db, Service};
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use sqlx::AssertSqlSafe;
use tenant::TenancyConfig;
use tenant::http::{FairLayer, Limits};
use tenant::registry::CacheStats;

const TENANTS: [&str; 2] = ["acme", "globex"];
const INVOICES: usize = 100;
/// `/whoami` runs send this many times `TENANT_LOAD_REQUESTS` (see [`Workload::requests`]).
const WHOAMI_FACTOR: usize = 10;

fn env_or(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Settings {
    requests: usize,
    connections: usize,
    flood_connections: usize,
    /// Flood requests a second, all connections together (0: as fast as they can).
    flood_rate: usize,
    rounds: usize,
}

#[derive(Clone, Copy, PartialEq)]
enum Workload {
    Get,
    Whoami,
}

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Workload::Get => "GET /invoices/{id}",
            Workload::Whoami => "GET /whoami",
        }
    }

    /// Live requests in one run of this workload: `/whoami` is about fifteen times faster than
    /// the point query, so its runs send ten times as many, to last about as long (a run of a
    /// tenth of a second measures the machine's hiccups more than the service).
    fn requests(self, settings: &Settings) -> usize {
        match self {
            Workload::Get => settings.requests,
            Workload::Whoami => settings.requests.saturating_mul(WHOAMI_FACTOR),
        }
    }

    /// The path and tenant of the `n`th live request.
    fn request(self, n: usize) -> (String, &'static str) {
        let tenant = TENANTS[n % 2];
        match self {
            Workload::Get => (format!("/invoices/{}", 1 + (n / 2) % INVOICES), tenant),
            Workload::Whoami => ("/whoami".to_owned(), tenant),
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Variant {
    Plain,
    Tenant,
    TenantFlood,
    /// The tenant router behind a `FairLayer` that never refuses or queues (its own cost).
    TenantFair,
    /// As before `FloodGuard`: `TenantLayer` over `CachedRegistry` over the SQL registry
    /// directly, under the same flood.
    UnguardedFlood,
    /// The floor: the same flood refused by an oracle in front of the tenant router, which knows
    /// the live tenants and answers anything else with the refusal's bytes, copied from a real
    /// one, without reading further (no parsing, no lookup; its headers copied, its body shared):
    /// what the flood costs
    /// the live tenants with a refusal that costs nothing, the sockets' work alone.
    FloorFlood,
}

impl Variant {
    fn name(self) -> &'static str {
        match self {
            Variant::Plain => "plain",
            Variant::Tenant => "tenant",
            Variant::TenantFlood => "tenant + flood",
            Variant::TenantFair => "tenant + fair",
            Variant::UnguardedFlood => "tenant + flood, no guard",
            Variant::FloorFlood => "tenant + flood, refused by an oracle (the floor)",
        }
    }
}

/// The runs of a round, in the order of the first round (later rounds rotate it).
const RUNS: [(Workload, Variant); 9] = [
    (Workload::Get, Variant::Plain),
    (Workload::Get, Variant::Tenant),
    (Workload::Get, Variant::TenantFlood),
    (Workload::Whoami, Variant::Plain),
    (Workload::Whoami, Variant::Tenant),
    (Workload::Get, Variant::TenantFair),
    (Workload::Whoami, Variant::TenantFair),
    (Workload::Get, Variant::UnguardedFlood),
    (Workload::Get, Variant::FloorFlood),
];

/// One run's live side.
struct Live {
    elapsed: Duration,
    /// Microseconds, from sending a request to the last byte of its response.
    latency: Histogram<u64>,
}

/// What the flood got back, by kind of id and status.
#[derive(Default)]
struct Flood {
    /// (`"unknown"` or `"malformed"`, status) → count.
    statuses: BTreeMap<(&'static str, u16), u64>,
    /// Responses without `application/problem+json`.
    not_problem: u64,
    sent: u64,
}

/// Nanoseconds on a CPU of this process's threads whose names start with one of `prefixes`,
/// summed from `/proc/self/task/*/schedstat`; `None` off Linux.
fn threads_cpu_ns(prefixes: &[&str]) -> Option<u64> {
    let mut total = 0;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let path = task.ok()?.path();
        let name = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        if !prefixes.iter().any(|p| name.starts_with(p)) {
            continue;
        }
        let schedstat = std::fs::read_to_string(path.join("schedstat")).unwrap_or_default();
        total += schedstat
            .split_whitespace()
            .next()
            .and_then(|ns| ns.parse::<u64>().ok())
            .unwrap_or(0);
    }
    Some(total)
}

/// Nanoseconds on a CPU of the service: this process's server threads (the server runtime's,
/// named `server`, and SQLite's workers), plus the PostgreSQL server's backends when
/// `TENANT_BENCH_CPU` names its postmaster. Unlike requests per second, this hardly moves when
/// other processes (or the load generators in this one) take the CPU away, so it measures what
/// the boundary costs on a shared machine.
fn server_cpu_ns() -> Option<u64> {
    let own = threads_cpu_ns(&["server", "sqlx-sqlite"])?;
    Some(own + tenant_benches::postgres_backends_cpu_ns().unwrap_or(0))
}

/// The flood's generator runs on a runtime of its own, one thread named `flood`, so that what
/// it costs the machine is measured apart from the service and the live client (the three
/// share the 2 cores, as a generator on the same host does).
fn flood_runtime() -> &'static tokio::runtime::Runtime {
    static FLOOD: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    FLOOD.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("flood")
            .enable_all()
            .build()
            .unwrap()
    })
}

/// Everything measured in one run.
struct Sample {
    rps: f64,
    /// Server CPU per live request, µs (flood included in flood runs); NaN where unknown.
    cpu_us: f64,
    p50: f64,
    p99: f64,
    stats: CacheStats,
    flood: Option<Flood>,
    flood_rps: f64,
    /// The flood generator's CPU, in cores (CPU seconds per second of the run).
    flood_cores: f64,
}

async fn connect(addr: SocketAddr) -> SendRequest<Full<Bytes>> {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    sender
}

/// Sends one request on `sender`, reads the whole response; its status, content type, body.
async fn send(
    sender: &mut SendRequest<Full<Bytes>>,
    addr: SocketAddr,
    method: &str,
    path: &str,
    tenant: hyper::header::HeaderValue,
    body: Option<String>,
) -> (u16, Option<hyper::header::HeaderValue>, Bytes) {
    let mut request = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header(hyper::header::HOST, addr.to_string())
        .header("x-tenant-id", tenant);
    if body.is_some() {
        request = request.header(hyper::header::CONTENT_TYPE, "application/json");
    }
    let body = Full::new(body.map(Bytes::from).unwrap_or_default());
    sender.ready().await.unwrap();
    let response = sender
        .send_request(request.body(body).unwrap())
        .await
        .unwrap();
    let status = response.status().as_u16();
    let content_type = response.headers().get(hyper::header::CONTENT_TYPE).cloned();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, content_type, bytes)
}

/// `requests` live requests over `connections` connections to `addr`, each answered 200.
async fn live(addr: SocketAddr, workload: Workload, requests: usize, connections: usize) -> Live {
    let mut senders = Vec::with_capacity(connections);
    for _ in 0..connections {
        senders.push(connect(addr).await);
    }
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = senders
        .into_iter()
        .map(|mut sender| {
            let next = next.clone();
            tokio::spawn(async move {
                let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= requests {
                        break;
                    }
                    let (path, tenant) = workload.request(n);
                    let tenant = hyper::header::HeaderValue::from_static(tenant);
                    let sent = Instant::now();
                    let (status, _, body) =
                        send(&mut sender, addr, "GET", &path, tenant, None).await;
                    latency.saturating_record(sent.elapsed().as_micros() as u64);
                    // A load test that measured failures would report nonsense.
                    assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&body));
                }
                latency
            })
        })
        .collect();
    let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
    for worker in workers {
        latency.add(worker.await.unwrap()).unwrap();
    }
    Live {
        elapsed: started.elapsed(),
        latency,
    }
}

/// SplitMix64: distinct, well-spread ids from a counter, without a random number crate.
fn splitmix64(n: u64) -> u64 {
    let mut z = n.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Header values that are no tenant id: upper case, `_`, a leading `-`, 64 bytes, a space,
/// empty, percent-encoded, non-ASCII.
fn malformed(n: u64) -> hyper::header::HeaderValue {
    const BAD: [&[u8]; 8] = [
        b"ACME",
        b"acme_corp",
        b"-acme",
        b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        b"acme corp",
        b"",
        b"%61cme",
        b"\xc3\xa4cme",
    ];
    hyper::header::HeaderValue::from_bytes(BAD[(n % BAD.len() as u64) as usize]).unwrap()
}

/// Every flood id ever sent is new (the counter is never reset), so none is answered from the
/// negative cache: the worst case, every unknown id costs a registry query.
static FLOOD_SEQ: AtomicU64 = AtomicU64::new(0);

/// Floods `addr` with unknown and malformed `X-Tenant-ID`s until `stop`, or `cap` requests.
async fn flood(
    addr: SocketAddr,
    connections: usize,
    stop: Arc<AtomicBool>,
    cap: u64,
    rate: usize,
) -> Flood {
    let sent = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for _ in 0..connections {
        let mut sender = connect(addr).await;
        let (stop, sent) = (stop.clone(), sent.clone());
        // Paced: each connection sends its part of `rate` a second (missed ticks are skipped),
        // so that a cheaper refusal does not make the flood itself bigger; 0: unpaced.
        let mut ticks = (rate > 0).then(|| {
            let mut interval =
                tokio::time::interval(Duration::from_secs_f64(connections as f64 / rate as f64));
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            interval
        });
        workers.push(tokio::spawn(async move {
            let mut flood = Flood::default();
            while !stop.load(Ordering::Relaxed) && sent.fetch_add(1, Ordering::Relaxed) < cap {
                if let Some(ticks) = ticks.as_mut() {
                    ticks.tick().await;
                }
                let n = FLOOD_SEQ.fetch_add(1, Ordering::Relaxed);
                let (kind, tenant) = match n % 8 {
                    7 => ("malformed", malformed(n / 8)),
                    _ => {
                        let id = format!("u{:016x}", splitmix64(n));
                        (
                            "unknown",
                            hyper::header::HeaderValue::from_str(&id).unwrap(),
                        )
                    }
                };
                let (status, content_type, _) =
                    send(&mut sender, addr, "GET", "/invoices/1", tenant, None).await;
                *flood.statuses.entry((kind, status)).or_default() += 1;
                if content_type.as_ref().and_then(|v| v.to_str().ok())
                    != Some("application/problem+json")
                {
                    flood.not_problem += 1;
                }
                flood.sent += 1;
            }
            flood
        }));
    }
    let mut total = Flood::default();
    for worker in workers {
        let flood = worker.await.unwrap();
        for (key, count) in flood.statuses {
            *total.statuses.entry(key).or_default() += count;
        }
        total.not_problem += flood.not_problem;
        total.sent += flood.sent;
    }
    total
}

fn minus(after: CacheStats, before: CacheStats) -> CacheStats {
    let mut stats = CacheStats::default();
    stats.hits = after.hits - before.hits;
    stats.negative_hits = after.negative_hits - before.negative_hits;
    stats.misses = after.misses - before.misses;
    stats.negative_misses = after.negative_misses - before.negative_misses;
    stats
}

struct Servers {
    service: Service,
    plain: SocketAddr,
    tenant: SocketAddr,
    fair: SocketAddr,
    unguarded: SocketAddr,
    floor: SocketAddr,
    /// One `SharedResolver::resolve` of a live tenant's request, in-process: µs.
    resolve_us: f64,
}

const RESOLVE_CALLS: usize = 100_000;

async fn serve(router: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

/// The service's handlers behind `TenantLayer` over `CachedRegistry` over the SQL registry,
/// without the example's `FloodGuard`: the boundary as it was before it.
fn unguarded_router(service: &Service, db: &Db) -> axum::Router {
    use tenant::CachedRegistry;
    use tenant::http::{TenantLayer, TenantResolver};
    use tenant::sqlx::SqlRegistry;
    let resolver = match db {
        Db::Sqlite(pool) => TenantResolver::new(
            CachedRegistry::new(
                SqlRegistry::new(pool.clone()),
                Duration::from_secs(30),
                10_000,
            ),
            TenancyConfig::default(),
        )
        .anonymous()
        .shared(),
        Db::Postgres(pool) => TenantResolver::new(
            CachedRegistry::new(
                SqlRegistry::new(pool.clone()),
                Duration::from_secs(30),
                10_000,
            ),
            TenancyConfig::default(),
        )
        .anonymous()
        .shared(),
    };
    service.handlers().layer(TenantLayer::new(resolver))
}

/// The tenant router behind an oracle that answers every request not of a live tenant with
/// `refusal` (a real refusal's status, headers and body, the body's bytes shared): a refusal
/// that costs nothing, so that a flood against it measures the floor of any in-process refusal.
fn floor_router(service: &Service, refusal: http::Response<Bytes>) -> axum::Router {
    let refusal = Arc::new(refusal);
    service.router().layer(axum::middleware::from_fn(
        move |request: axum::extract::Request, next: axum::middleware::Next| {
            let refusal = refusal.clone();
            async move {
                let live = request
                    .headers()
                    .get("x-tenant-id")
                    .is_some_and(|v| TENANTS.iter().any(|t| v.as_bytes() == t.as_bytes()));
                if live {
                    return next.run(request).await;
                }
                let mut response =
                    http::Response::new(axum::body::Body::from(refusal.body().clone()));
                *response.status_mut() = refusal.status();
                *response.headers_mut() = refusal.headers().clone();
                response
            }
        },
    ))
}

/// Both variants over `db`, served on the server runtime, with every tenant's invoices
/// created through the tenant variant.
fn start(server: &tokio::runtime::Runtime, client: &tokio::runtime::Runtime, db: Db) -> Servers {
    let db_for_unguarded = match &db {
        Db::Sqlite(pool) => Db::Sqlite(pool.clone()),
        Db::Postgres(pool) => Db::Postgres(pool.clone()),
    };
    let (service, plain, tenant, fair, unguarded, floor, resolve_us) = server.block_on(async {
        let service = Service::new(db, TenancyConfig::default()).await.unwrap();
        // The plain variant's one context comes from the resolver, like any other: no
        // `TenantCtx::trusted` in a load test.
        let request = http::Request::get("/").header("x-tenant-id", "acme");
        let (parts, ()) = request.body(()).unwrap().into_parts();
        let ctx = service.resolver().resolve(&parts).await.unwrap();
        // The resolver alone, without HTTP: what the boundary's own code costs per request
        // (best of five batches, the rest of the machine being busy).
        let mut best = f64::INFINITY;
        for _ in 0..5 {
            let started = Instant::now();
            for _ in 0..RESOLVE_CALLS {
                std::hint::black_box(service.resolver().resolve(&parts).await.unwrap());
            }
            best = best.min(started.elapsed().as_secs_f64() / RESOLVE_CALLS as f64);
        }
        let plain = serve(service.handlers().layer(axum::Extension(ctx))).await;
        let tenant = serve(service.router()).await;
        // Limits no live run reaches: what the layer costs when it has nothing to do.
        let roomy = Limits::new(u32::MAX, u32::MAX, 1 << 16).unwrap();
        let fair =
            serve(service.fair_router(FairLayer::builder(1 << 16, roomy).build().unwrap())).await;
        let unguarded = serve(unguarded_router(&service, &db_for_unguarded)).await;
        // The oracle's answer: the service's own refusal of an unknown id, byte for byte.
        let refusal = {
            use tower::ServiceExt;
            let request = http::Request::get("/invoices/1")
                .header("x-tenant-id", "u0000000000000000")
                .body(axum::body::Body::empty())
                .unwrap();
            let response = service.router().oneshot(request).await.unwrap();
            assert_eq!(response.status(), 404);
            let (parts, body) = response.into_parts();
            http::Response::from_parts(parts, body.collect().await.unwrap().to_bytes())
        };
        let floor = serve(floor_router(&service, refusal)).await;
        (service, plain, tenant, fair, unguarded, floor, best * 1e6)
    });
    client.block_on(async {
        let mut sender = connect(tenant).await;
        for tenant_id in TENANTS {
            for id in 1..=INVOICES {
                let body = format!(r#"{{"id":{id},"customer":"c{id}","amount_cents":{id}00}}"#);
                let tenant_id = hyper::header::HeaderValue::from_static(tenant_id);
                let (status, _, body) = send(
                    &mut sender,
                    tenant,
                    "POST",
                    "/invoices",
                    tenant_id,
                    Some(body),
                )
                .await;
                assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
            }
        }
    });
    Servers {
        service,
        plain,
        tenant,
        fair,
        unguarded,
        floor,
        resolve_us,
    }
}

/// One run of `which`, its workload's number of live requests.
fn run(
    client: &tokio::runtime::Runtime,
    servers: &Servers,
    settings: &Settings,
    which: (Workload, Variant),
) -> Sample {
    run_n(client, servers, settings, which, which.0.requests(settings))
}

fn run_n(
    client: &tokio::runtime::Runtime,
    servers: &Servers,
    settings: &Settings,
    (workload, variant): (Workload, Variant),
    requests: usize,
) -> Sample {
    let addr = match variant {
        Variant::Plain => servers.plain,
        Variant::Tenant | Variant::TenantFlood => servers.tenant,
        Variant::TenantFair => servers.fair,
        Variant::UnguardedFlood => servers.unguarded,
        Variant::FloorFlood => servers.floor,
    };
    let before = servers.service.registry_stats();
    let cpu_before = server_cpu_ns();
    let flood_cpu_before = threads_cpu_ns(&["flood"]);
    let (live, flood) = client.block_on(async {
        let stop = Arc::new(AtomicBool::new(false));
        let flooded = match variant {
            Variant::TenantFlood => Some(servers.tenant),
            Variant::UnguardedFlood => Some(servers.unguarded),
            Variant::FloorFlood => Some(servers.floor),
            _ => None,
        };
        let flood = flooded.map(|target| {
            flood_runtime().spawn(flood(
                target,
                settings.flood_connections,
                stop.clone(),
                10 * requests as u64,
                settings.flood_rate,
            ))
        });
        let live = live(addr, workload, requests, settings.connections).await;
        stop.store(true, Ordering::Relaxed);
        let flood = match flood {
            Some(flood) => Some(flood.await.unwrap()),
            None => None,
        };
        (live, flood)
    });
    let stats = minus(servers.service.registry_stats(), before);
    let cpu_ns = match (cpu_before, server_cpu_ns()) {
        (Some(before), Some(after)) => (after - before) as f64,
        _ => f64::NAN,
    };
    let seconds = live.elapsed.as_secs_f64();
    let flood_cores = match (flood_cpu_before, threads_cpu_ns(&["flood"])) {
        (Some(before), Some(after)) => (after - before) as f64 / 1e9 / seconds,
        _ => f64::NAN,
    };
    Sample {
        flood_cores,
        rps: requests as f64 / seconds,
        cpu_us: cpu_ns / 1e3 / requests as f64,
        p50: live.latency.value_at_quantile(0.50) as f64,
        p99: live.latency.value_at_quantile(0.99) as f64,
        stats,
        flood_rps: flood.as_ref().map_or(0.0, |f| f.sent as f64 / seconds),
        flood,
    }
}

/// Median, 25th and 75th percentiles.
fn quartiles(mut values: Vec<f64>) -> [f64; 3] {
    values.sort_by(f64::total_cmp);
    let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
    [at(0.5), at(0.25), at(0.75)]
}

fn backend(
    name: &str,
    server: &tokio::runtime::Runtime,
    client: &tokio::runtime::Runtime,
    settings: &Settings,
    db: Db,
) -> String {
    let noisy_db = match &db {
        Db::Sqlite(pool) => Db::Sqlite(pool.clone()),
        Db::Postgres(pool) => Db::Postgres(pool.clone()),
    };
    let servers = start(server, client, db);
    noisy_tenants(server, client, &noisy_db, servers.tenant);
    // `TENANT_LOAD=0`: only what follows the load runs (the layer's own cost, the noisy
    // neighbours), e.g. to compare two builds of `FairLayer` in the same minutes.
    if env_or("TENANT_LOAD", 1) == 0 {
        let mut out = resolver_alone(servers.resolve_us);
        eprint!("{out}");
        out += &uncontended(name, server, &servers);
        if env_or("TENANT_NOISY", 1) == 1 {
            out += &noisy(name, client, server, &servers, &noisy_db);
        }
        return out;
    }
    // `TENANT_LOAD_PROFILE=<run>`: that run of `RUNS` alone, over and over (for a profiler).
    if let Ok(Ok(index)) = std::env::var("TENANT_LOAD_PROFILE").map(|v| v.parse::<usize>()) {
        for _ in 0..settings.rounds {
            let sample = run(client, &servers, settings, RUNS[index]);
            eprintln!("{}: {:.1} µs/req", RUNS[index].1.name(), sample.cpu_us);
        }
        return String::new();
    }
    // Warm-up: connections, caches, SQLite's statement caches, the allocator.
    for &which in &RUNS {
        run_n(
            client,
            &servers,
            settings,
            which,
            which.0.requests(settings) / 10,
        );
    }
    let mut samples: Vec<Vec<Sample>> = RUNS.iter().map(|_| Vec::new()).collect();
    let mut max_len = 0;
    let mut evicted = false;
    for round in 0..settings.rounds {
        for k in 0..RUNS.len() {
            let index = (round + k) % RUNS.len();
            let sample = run(client, &servers, settings, RUNS[index]);
            if matches!(
                RUNS[index].1,
                Variant::TenantFlood | Variant::UnguardedFlood | Variant::FloorFlood
            ) {
                max_len = max_len.max(servers.service.registry_len());
                evicted |= !TENANTS
                    .iter()
                    .all(|t| servers.service.is_cached(&t.parse().unwrap()));
            }
            eprintln!(
                "{name} round {round}: {} {}: {:.0} req/s, server CPU {:.1} µs/req, p50 {} µs, p99 {} µs{}",
                RUNS[index].0.name(),
                RUNS[index].1.name(),
                sample.rps,
                sample.cpu_us,
                sample.p50,
                sample.p99,
                match &sample.flood {
                    Some(f) => format!(
                        ", flood {:.0} req/s",
                        f.sent as f64 / (settings.requests as f64 / sample.rps)
                    ),
                    None => String::new(),
                }
            );
            samples[index].push(sample);
        }
    }
    let mut out = report(
        name,
        settings,
        &samples,
        max_len,
        evicted,
        servers.resolve_us,
    );
    out += &uncontended(name, server, &servers);
    if env_or("TENANT_NOISY", 1) == 1 {
        out += &noisy(name, client, server, &servers, &noisy_db);
    }
    out
}

/// The report's line for the resolver's own cost, µs per call.
fn resolver_alone(resolve_us: f64) -> String {
    format!(
        "\nThe resolver alone (`SharedResolver::resolve` of a cached live tenant, in-process, \
         no HTTP): {resolve_us:.3} µs per call.\n"
    )
}

fn report(
    name: &str,
    settings: &Settings,
    samples: &[Vec<Sample>],
    max_len: usize,
    evicted: bool,
    resolve_us: f64,
) -> String {
    let median = |index: usize, f: &dyn Fn(&Sample) -> f64| {
        quartiles(samples[index].iter().map(f).collect())[0]
    };
    let ratio = |subject: usize, floor: usize, f: &dyn Fn(&Sample) -> f64| {
        quartiles(
            samples[subject]
                .iter()
                .zip(&samples[floor])
                .map(|(s, p)| f(s) / f(p))
                .collect(),
        )
    };
    let mut out = format!(
        "## {name}\n\n{} live requests per run ({} for `/whoami`) over {} keep-alive \
         connections, {} interleaved rounds; the flood over {} more connections. Medians over rounds; ratios are medians of \
         per-round ratios [p25, p75].\n\n\
         | workload | variant | req/s | server CPU / req | p50 | p99 | req/s / plain | CPU / plain | p50 / plain | p99 / plain |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        settings.requests,
        Workload::Whoami.requests(settings),
        settings.connections,
        settings.rounds,
        settings.flood_connections
    );
    for (index, (workload, variant)) in RUNS.iter().enumerate() {
        let plain = RUNS
            .iter()
            .position(|r| *r == (*workload, Variant::Plain))
            .unwrap();
        let cell = |f: &dyn Fn(&Sample) -> f64, bold: &str| match index == plain {
            true => "—".to_owned(),
            false => {
                let [m, lo, hi] = ratio(index, plain, f);
                format!("{bold}{m:.3}{bold} [{lo:.3}, {hi:.3}]")
            }
        };
        out += &format!(
            "| {} | {} | {:.0} | {:.1} µs | {:.0} µs | {:.0} µs | {} | {} | {} | {} |\n",
            workload.name(),
            variant.name(),
            median(index, &|s| s.rps),
            median(index, &|s| s.cpu_us),
            median(index, &|s| s.p50),
            median(index, &|s| s.p99),
            cell(&|s| s.rps, "**"),
            cell(&|s| s.cpu_us, "**"),
            cell(&|s| s.p50, ""),
            cell(&|s| s.p99, ""),
        );
    }

    out += &resolver_alone(resolve_us);
    let [tenant, flooded] = [1, 2];
    let [rps, rps_lo, rps_hi] = ratio(flooded, tenant, &|s| s.rps);
    out += &format!(
        "\nLive throughput under the unknown-id flood (`FloodGuard` under the cache, {} unknown \
         lookups a second): × {rps:.3} [{rps_lo:.3}, {rps_hi:.3}] of the same load without it.\n",
        example_service::MISS_BUDGET
    );
    let [old, old_lo, old_hi] = ratio(7, tenant, &|s| s.rps);
    out += &format!(
        "Without `FloodGuard` (the same flood, `CachedRegistry` over the SQL registry alone): \
         × {old:.3} [{old_lo:.3}, {old_hi:.3}].\n"
    );
    // The service's own share: live requests per second of the service's CPU (the flood's
    // refusals included), without the flood over with it. What the live tenants would get if
    // the service had its cores to itself, the generator being elsewhere.
    let [cap, cap_lo, cap_hi] = ratio(tenant, flooded, &|s| s.cpu_us);
    let [old_cap, old_cap_lo, old_cap_hi] = ratio(tenant, 7, &|s| s.cpu_us);
    let [floor_cap, floor_lo, floor_hi] = ratio(tenant, 8, &|s| s.cpu_us);
    let [floor_rps, floor_rps_lo, floor_rps_hi] = ratio(8, tenant, &|s| s.rps);
    let cores = median(flooded, &|s| s.flood_cores);
    out += &format!(
        "Live capacity under the flood, by the service's CPU (server CPU per live request \
         without the flood over with it, the flood's refusals charged to the live requests): \
         **× {cap:.3}** [{cap_lo:.3}, {cap_hi:.3}] with `FloodGuard`, × {old_cap:.3} \
         [{old_cap_lo:.3}, {old_cap_hi:.3}] without. The flood's generator itself took {cores:.2} \
         of the 2 cores (median), CPU the live client and the service did not get.\n"
    );
    out += &format!(
        "The floor, the same flood refused by an oracle that costs nothing (the refusal's bytes \
         for any id not a live tenant's, before anything parses it): capacity × {floor_cap:.3} \
         [{floor_lo:.3}, {floor_hi:.3}], throughput × {floor_rps:.3} [{floor_rps_lo:.3}, \
         {floor_rps_hi:.3}]: what the sockets alone cost the live tenants.\n"
    );
    for (workload, fair_index, tenant_index) in [(Workload::Get, 5, 1), (Workload::Whoami, 6, 4)] {
        let [m, lo, hi] = ratio(fair_index, tenant_index, &|s| s.rps);
        let [p99, p99_lo, p99_hi] = ratio(fair_index, tenant_index, &|s| s.p99);
        let [cpu, cpu_lo, cpu_hi] = ratio(fair_index, tenant_index, &|s| s.cpu_us);
        out += &format!(
            "`FairLayer` uncontended, {}: throughput × {m:.3} [{lo:.3}, {hi:.3}] of the tenant \
             variant, p99 × {p99:.3} [{p99_lo:.3}, {p99_hi:.3}], server CPU per request \
             **× {cpu:.3}** [{cpu_lo:.3}, {cpu_hi:.3}].\n",
            workload.name()
        );
    }
    let [p50, p50_lo, p50_hi] = ratio(flooded, tenant, &|s| s.p50);
    let [p99, p99_lo, p99_hi] = ratio(flooded, tenant, &|s| s.p99);
    let mut statuses: BTreeMap<(&str, u16), u64> = BTreeMap::new();
    let (mut not_problem, mut sent) = (0, 0);
    let mut live = CacheStats::default();
    for sample in &samples[flooded] {
        let flood = sample.flood.as_ref().unwrap();
        for (key, count) in &flood.statuses {
            *statuses.entry(*key).or_default() += count;
        }
        not_problem += flood.not_problem;
        sent += flood.sent;
        live.hits += sample.stats.hits;
        live.misses += sample.stats.misses;
        live.negative_hits += sample.stats.negative_hits;
        live.negative_misses += sample.stats.negative_misses;
    }
    let lookups_per_request =
        (live.hits + live.misses) as f64 / (settings.requests * samples[flooded].len()) as f64;
    out += &format!(
        "\nFlood (GET /invoices/{{id}}, tenant variant): live p50 × {p50:.3} [{p50_lo:.3}, \
         {p50_hi:.3}] and p99 × {p99:.3} [{p99_lo:.3}, {p99_hi:.3}] of the same load without \
         flood; the flood sent {sent} requests, {:.0} req/s (median).\n\n\
         | flood id | status | count |\n|---|---:|---:|\n",
        median(flooded, &|s| s.flood_rps)
    );
    for ((kind, status), count) in &statuses {
        out += &format!("| {kind} | {status} | {count} |\n");
    }
    out += &format!(
        "\nResponses to the flood without `application/problem+json`: {not_problem}.\n\
         Registry cache during the flood runs: live tenants' hit rate {:.5} ({} hits, {} misses; \
         {lookups_per_request:.2} lookups per live request), unknown ids {} negative misses, {} \
         negative hits; at most {max_len} entries after a flood run (capacity 10,000 found + \
         10,000 not found); live tenants evicted by the flood: {}.\n\n",
        live.hit_rate().unwrap_or(f64::NAN),
        live.hits,
        live.misses,
        live.negative_misses,
        live.negative_hits,
        if evicted { "YES" } else { "never" },
    );
    println!("{out}");
    // What must hold whatever the timings: the flood is answered with typed problems (404 for
    // unknown ids, or 503 once their lookup budget is spent; 400 for malformed ones), and
    // evicts no live tenant.
    for ((kind, status), count) in &statuses {
        let expected: &[u16] = if *kind == "unknown" {
            &[404, 503]
        } else {
            &[400]
        };
        assert!(
            expected.contains(status),
            "{count} {kind} ids answered {status}"
        );
    }
    assert_eq!(not_problem, 0, "flood responses without a problem body");
    assert!(!evicted, "the flood evicted a live tenant");
    out
}

/// The noisy-neighbour scenarios' tenants: the example's acme (pro) and globex (free), and two
/// made here, initech (enterprise) and hooli (free, the flooder).
const STEADY: [(&str, u32); 3] = [("initech", 600), ("acme", 300), ("globex", 100)];
const FLOODER: &str = "hooli";

/// Makes initech and hooli, with invoices, through the registry and the tenant router.
fn noisy_tenants(
    server: &tokio::runtime::Runtime,
    client: &tokio::runtime::Runtime,
    db: &Db,
    tenant: SocketAddr,
) {
    use tenant::Tier;
    use tenant::sqlx::{NewTenant, PlacementFence, SqlRegistry};
    server.block_on(async {
        for (id, plan) in [
            ("initech", tenant::Plan::Enterprise),
            ("hooli", tenant::Plan::Free),
        ] {
            let new = NewTenant {
                id: id.parse().unwrap(),
                slug: id.parse().unwrap(),
                name: id.into(),
                plan,
                schema_name: format!("tenant_{id}").parse().unwrap(),
            };
            // Registered, and placed in the one database (the example's handlers begin
            // behind the placement fence).
            let tenant = new.id.clone();
            match db {
                Db::Sqlite(pool) => {
                    SqlRegistry::new(pool.clone()).create(new).await.unwrap();
                    PlacementFence::new(pool)
                        .place(&tenant, Tier::Shared, false)
                        .await
                }
                Db::Postgres(pool) => {
                    SqlRegistry::new(pool.clone()).create(new).await.unwrap();
                    PlacementFence::new(pool)
                        .place(&tenant, Tier::Shared, false)
                        .await
                }
            }
            .unwrap();
        }
    });
    client.block_on(async {
        let mut sender = connect(tenant).await;
        for tenant_id in ["initech", "hooli"] {
            for id in 1..=INVOICES {
                let body = format!(r#"{{"id":{id},"customer":"c{id}","amount_cents":{id}00}}"#);
                let value = hyper::header::HeaderValue::from_static(tenant_id);
                let (status, _, _) =
                    send(&mut sender, tenant, "POST", "/invoices", value, Some(body)).await;
                assert_eq!(status, 201);
            }
        }
    });
}

/// Per tenant: latencies of 200s, and counts by status.
#[derive(Default)]
struct PerTenant {
    latency: Option<Histogram<u64>>,
    statuses: BTreeMap<u16, u64>,
}

impl PerTenant {
    fn add(&mut self, other: PerTenant) {
        match (&mut self.latency, other.latency) {
            (Some(mine), Some(theirs)) => mine.add(theirs).unwrap(),
            (mine @ None, theirs) => *mine = theirs,
            _ => {}
        }
        for (status, count) in other.statuses {
            *self.statuses.entry(status).or_default() += count;
        }
    }

    fn p99(&self) -> f64 {
        self.latency
            .as_ref()
            .map_or(f64::NAN, |h| h.value_at_quantile(0.99) as f64)
    }
}

/// `FairLayer`'s own cost with nothing to queue or refuse, in-process: the service's router
/// with and without the layer, called through tower (no HTTP, no client, no sockets: the
/// layer's share of a request is not lost in the noise of the loopback), in interleaved rounds
/// (`tenant_benches::compare_pairs`; CPU time of the process and of PostgreSQL's backends with
/// `TENANT_BENCH_CPU`, else the clock).
fn uncontended(name: &str, server: &tokio::runtime::Runtime, servers: &Servers) -> String {
    use tower::ServiceExt;
    let roomy = Limits::new(u32::MAX, u32::MAX, 1 << 16).unwrap();
    // A rate limit no run reaches (a billion a second), checked on every request: what a
    // tenant whose plan has one pays for it.
    let limited = Limits::new(1_000_000_000, 1_000_000_000, 1 << 16).unwrap();
    let tenant = servers.service.router();
    let fair = servers
        .service
        .fair_router(FairLayer::builder(1 << 16, roomy).build().unwrap());
    let fair_limited = servers
        .service
        .fair_router(FairLayer::builder(1 << 16, limited).build().unwrap());
    // `FairLayer` as a layer of its own beside `TenantLayer`, as before `TenantLayer::fair`.
    let fair_own = servers
        .service
        .fair_layer_router(FairLayer::builder(1 << 16, roomy).build().unwrap());
    // One group per workload, so that each one's batches are sized on its own floor (a
    // `/whoami` batch sized on the point query would be shorter than the CPU clock's tick).
    let mut ratios = Vec::new();
    for (workload, path) in [
        ("GET /invoices/{id}", "/invoices/7"),
        ("GET /whoami", "/whoami"),
    ] {
        let routers = [
            tenant.clone(),
            fair.clone(),
            fair_limited.clone(),
            fair_own.clone(),
        ];
        let group = format!("load/{name}/fair_uncontended {workload}");
        let pair = tenant_benches::compare_pairs(
            server,
            &group,
            &[
                "tenant",
                "tenant + fair",
                "tenant + fair, rate-limited",
                "tenant + FairLayer of its own",
            ],
            &[(1, 0), (2, 0), (3, 0)],
            async |v: usize| {
                let request = http::Request::get(path)
                    .header("x-tenant-id", "acme")
                    .body(axum::body::Body::empty())
                    .unwrap();
                let response = routers[v].clone().oneshot(request).await.unwrap();
                assert_eq!(response.status(), 200);
                response.into_body().collect().await.unwrap().to_bytes()
            },
            &|| (),
        );
        ratios.extend(
            pair.into_iter()
                .zip([
                    "`TenantLayer::fair`, no rate limit",
                    "`TenantLayer::fair`, a rate limit",
                    "`FairLayer` a layer of its own, no rate limit",
                ])
                .map(|(r, limit)| (workload, limit, r)),
        );
    }
    let mode = match std::env::var("TENANT_BENCH_CPU") {
        Ok(_) => "CPU time",
        Err(_) => "wall clock",
    };
    let mut out = format!(
        "\n`FairLayer` uncontended, in-process (the router called through tower, no HTTP; \
         {} interleaved rounds, {mode}): ",
        tenant_benches::rounds()
    );
    for (workload, limit, [m, lo, hi]) in ratios {
        out += &format!("{workload}, {limit} × **{m:.3}** [{lo:.3}, {hi:.3}]; ");
    }
    out + "of the same router without the layer.\n\n"
}

/// What a scenario's client asks for.
#[derive(Clone, Copy)]
enum Route {
    /// `GET /invoices/{n}`: the example's point query.
    Invoice,
    /// `GET /io`: a request that waits 2 ms on I/O and does little else (shares under
    /// saturation: the slots, not the cores, are what is scarce).
    Io,
    /// `GET /db/invoices/{n}`: the point query in a budgeted transaction (`DbBudget`).
    DbInvoice,
    /// `GET /db/sleep`: `SELECT pg_sleep(0.1)` in a budgeted transaction.
    DbSleep,
}

impl Route {
    fn path(self, n: usize) -> String {
        match self {
            Route::Invoice => format!("/invoices/{}", 1 + n % INVOICES),
            Route::Io => "/io".to_owned(),
            Route::DbInvoice => format!("/db/invoices/{}", 1 + n % INVOICES),
            Route::DbSleep => "/db/sleep".to_owned(),
        }
    }
}

/// One connection to `addr` sending `tenant`'s requests for `route` until `until`: paced at
/// `per_second` (missed ticks skipped), or as fast as it can with `None`.
async fn tenant_client(
    addr: SocketAddr,
    tenant: &'static str,
    per_second: Option<u32>,
    route: Route,
    until: Instant,
) -> PerTenant {
    let mut sender = connect(addr).await;
    let mut out = PerTenant {
        latency: Some(Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap()),
        statuses: BTreeMap::new(),
    };
    let mut ticks = per_second.map(|rate| {
        let mut interval = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        interval
    });
    let mut n = 0usize;
    while Instant::now() < until {
        if let Some(ticks) = ticks.as_mut() {
            ticks.tick().await;
        }
        n += 1;
        let path = route.path(n);
        let sent = Instant::now();
        let value = hyper::header::HeaderValue::from_static(tenant);
        let (status, _, _) = send(&mut sender, addr, "GET", &path, value, None).await;
        if status == 200 {
            out.latency
                .as_mut()
                .unwrap()
                .saturating_record(sent.elapsed().as_micros() as u64);
        }
        *out.statuses.entry(status).or_default() += 1;
    }
    out
}

/// A scenario's clients: (tenant, connections, rate per connection, route).
type Clients = [(&'static str, usize, Option<u32>, Route)];

/// Runs `clients` together for `seconds`.
fn tenants_run(
    client: &tokio::runtime::Runtime,
    addr: SocketAddr,
    clients: &Clients,
    seconds: f64,
) -> BTreeMap<&'static str, PerTenant> {
    client.block_on(async {
        let until = Instant::now() + Duration::from_secs_f64(seconds);
        let mut tasks = Vec::new();
        for &(tenant, connections, rate, route) in clients {
            for _ in 0..connections {
                tasks.push((
                    tenant,
                    tokio::spawn(tenant_client(addr, tenant, rate, route, until)),
                ));
            }
        }
        let mut out: BTreeMap<&'static str, PerTenant> = BTreeMap::new();
        for (tenant, task) in tasks {
            out.entry(tenant).or_default().add(task.await.unwrap());
        }
        out
    })
}

/// Adds every tenant's results of one run to `into` (pooled over rounds).
fn pool_into(
    into: &mut BTreeMap<&'static str, PerTenant>,
    run: &BTreeMap<&'static str, PerTenant>,
) {
    for (tenant, per) in run {
        let copy = PerTenant {
            latency: per.latency.clone(),
            statuses: per.statuses.clone(),
        };
        into.entry(tenant).or_default().add(copy);
    }
}

fn served(per: &PerTenant) -> u64 {
    per.statuses.get(&200).copied().unwrap_or(0)
}

fn min_max(values: &[f64]) -> (f64, f64) {
    let lo = values.iter().cloned().fold(f64::INFINITY, f64::min);
    let hi = values.iter().cloned().fold(0.0, f64::max);
    (lo, hi)
}

/// `GET /io` behind `fair` and the service's `TenantLayer`: waits 2 ms, as a request waiting on
/// a database or another service does, and answers who asked.
fn io_router(service: &Service, fair: FairLayer) -> axum::Router {
    async fn io(ctx: axum::Extension<tenant::TenantCtx>) -> String {
        tokio::time::sleep(Duration::from_millis(2)).await;
        ctx.tenant_id().to_string()
    }
    axum::Router::new()
        .route("/io", axum::routing::get(io))
        .layer((
            tenant::http::TenantLayer::new(service.resolver().clone()),
            fair,
        ))
}

/// How the `/db/*` routes begin their transaction: within the tenant's `DbBudget` share, or
/// straight from the pool (what a service without budgets does).
#[derive(Clone)]
enum Begin {
    Budget(Arc<tenant::sqlx::DbBudget<sqlx::Postgres>>),
    Pool(sqlx::PgPool),
}

/// The routes of the `pg_sleep` scenario, behind the service's `TenantLayer` and `fair`: a point
/// query and a 100 ms `pg_sleep`, each in a tenant transaction begun by `begin`. A failure is a
/// 500 with the error's text, never a panic.
fn db_router(service: &Service, begin: Begin, fair: FairLayer) -> axum::Router {
    use axum::extract::{Path, State};
    use axum::http::StatusCode;
    use example_service::Invoice;
    use tenant::TenantCtx;

    async fn in_tx(
        begin: &Begin,
        ctx: &TenantCtx,
        id: Option<i64>,
    ) -> Result<(), tenant::sqlx::Error> {
        async fn work(
            tx: &mut tenant::sqlx::TenantTx<sqlx::Postgres>,
            ctx: &TenantCtx,
            id: Option<i64>,
        ) -> Result<(), tenant::sqlx::Error> {
            match id {
                Some(id) => tx.repo::<Invoice>().get(ctx, id).await.map(drop),
                None => sqlx::query("SELECT pg_sleep(0.1)")
                    .execute(tx.executor())
                    .await
                    .map(drop)
                    .map_err(Into::into),
            }
        }
        match begin {
            Begin::Budget(budget) => {
                let mut tx = budget.begin(ctx).await?;
                work(&mut tx, ctx, id).await?;
                tx.commit().await
            }
            Begin::Pool(pool) => {
                let mut tx = tenant::sqlx::TenantTx::begin(pool, ctx).await?;
                work(&mut tx, ctx, id).await?;
                tx.commit().await
            }
        }
    }
    fn answer(result: Result<(), tenant::sqlx::Error>) -> (StatusCode, String) {
        match result {
            Ok(()) => (StatusCode::OK, String::new()),
            Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()),
        }
    }
    async fn get_one(
        State(begin): State<Begin>,
        ctx: axum::Extension<TenantCtx>,
        Path(id): Path<i64>,
    ) -> (StatusCode, String) {
        answer(in_tx(&begin, &ctx, Some(id)).await)
    }
    async fn sleep(
        State(begin): State<Begin>,
        ctx: axum::Extension<TenantCtx>,
    ) -> (StatusCode, String) {
        answer(in_tx(&begin, &ctx, None).await)
    }
    axum::Router::new()
        .route("/db/invoices/{id}", axum::routing::get(get_one))
        .route("/db/sleep", axum::routing::get(sleep))
        .with_state(begin)
        .layer((
            tenant::http::TenantLayer::new(service.resolver().clone()),
            fair,
        ))
}

/// The steady tenants' p99 table: pooled over rounds (every 200 of every round in one
/// histogram per tenant and run), with the per-round ratios' range.
fn p99_table(
    quiet: &BTreeMap<&'static str, PerTenant>,
    loud: &BTreeMap<&'static str, PerTenant>,
    per_round: &BTreeMap<&str, Vec<f64>>,
    loud_name: &str,
) -> String {
    let mut out = format!(
        "| steady tenant | requests served (quiet, {loud_name}) | p99 quiet | p99 {loud_name} | \
         ratio, pooled | per-round ratios [min, max] |\n|---|---:|---:|---:|---:|---:|\n"
    );
    for (tenant, _) in STEADY {
        let (lo, hi) = min_max(&per_round[tenant]);
        out += &format!(
            "| {tenant} | {}, {} | {:.0} µs | {:.0} µs | **{:.3}** | [{lo:.3}, {hi:.3}] |\n",
            served(&quiet[tenant]),
            served(&loud[tenant]),
            quiet[tenant].p99(),
            loud[tenant].p99(),
            loud[tenant].p99() / quiet[tenant].p99(),
        );
    }
    out
}

/// The noisy-neighbour scenarios, side by side in one process, each in interleaved rounds
/// (the order alternating, so drift hits both runs alike); p99s pooled over rounds:
/// - **a flooder** (`FairLayer`): three steady tenants (enterprise 600 req/s, pro 300, free
///   100, two paced connections each), without and with a free tenant sending 10× the steady
///   free one (1,000 req/s); limits: 8 requests at once, the free plan 200 req/s (bursts of
///   50, 16 queued), the others far above their load;
/// - **shares under saturation** (`FairLayer`, 2 slots, `GET /io` waiting 2 ms): initech,
///   acme and hooli backlogged (16 unpaced connections each), globex below its share (20
///   req/s): globex must be served fully, the backlogged three by weight 10 : 3 : 1;
/// - **slow queries** (PostgreSQL, `DbBudget` over the service's pool of 10): the steady
///   tenants' point queries in budgeted transactions, without and with hooli running
///   `pg_sleep(0.1)` on all its requests over 12 connections; and the same without `DbBudget`.
fn noisy(
    name: &str,
    client: &tokio::runtime::Runtime,
    server: &tokio::runtime::Runtime,
    servers: &Servers,
    db: &Db,
) -> String {
    let seconds = env_or("TENANT_NOISY_MILLIS", 4_000) as f64 / 1e3;
    let rounds = env_or("TENANT_NOISY_ROUNDS", 5);
    let roomy = Limits::new(1_000_000, 1_000_000, 1 << 12).unwrap();
    let (limited, saturated, saturated_shares, budgeted, unshared, unbudgeted) =
        server.block_on(async {
            let fair = FairLayer::builder(8, roomy)
                .plan(tenant::Plan::Free, Limits::new(200, 50, 16).unwrap())
                .build()
                .unwrap();
            // The weights' shares of the slots alone (a full weight of 1: no tenant's slots bounded
            // by its share), and with the default bounds (of 2 slots: enterprise 2, pro 1, free 1).
            let shares = FairLayer::builder(2, roomy)
                .full_weight(1.0)
                .build()
                .unwrap();
            let bounded = FairLayer::builder(2, roomy).build().unwrap();
            // 8 slots in front of the budget: bounded by share (free 1), and not (as before the
            // bound, when hooli's requests waiting for its one connection held every slot).
            let fair_db = || FairLayer::builder(8, roomy).build().unwrap();
            let fair_db_unbounded = || {
                FairLayer::builder(8, roomy)
                    .full_weight(1.0)
                    .build()
                    .unwrap()
            };
            let (budgeted, unshared, unbudgeted) = match db {
                Db::Postgres(pool) => {
                    let budget = Arc::new(tenant::sqlx::DbBudget::new(pool.clone()));
                    let service = &servers.service;
                    (
                        Some(
                            serve(db_router(
                                service,
                                Begin::Budget(Arc::clone(&budget)),
                                fair_db(),
                            ))
                            .await,
                        ),
                        Some(
                            serve(db_router(
                                service,
                                Begin::Budget(budget),
                                fair_db_unbounded(),
                            ))
                            .await,
                        ),
                        Some(
                            serve(db_router(
                                service,
                                Begin::Pool(pool.clone()),
                                fair_db_unbounded(),
                            ))
                            .await,
                        ),
                    )
                }
                Db::Sqlite(_) => (None, None, None),
            };
            (
                serve(servers.service.fair_router(fair)).await,
                serve(io_router(&servers.service, shares)).await,
                serve(io_router(&servers.service, bounded)).await,
                budgeted,
                unshared,
                unbudgeted,
            )
        });
    let steady: Vec<_> = STEADY
        .iter()
        .map(|&(t, rate)| (t, 2, Some(rate / 2), Route::Invoice))
        .collect();
    let mut flooded = steady.clone();
    // Ten times what the steady free tenant sends (100 req/s), over 8 connections.
    flooded.push((FLOODER, 8, Some(1_000 / 8), Route::Invoice));
    // Below its share (2 slots × 500 req/s × 1/15 ≈ 66 req/s): 20 req/s.
    let light = "globex";
    let saturating: Vec<_> = [
        ("initech", 16, None, Route::Io),
        ("acme", 16, None, Route::Io),
        (FLOODER, 16, None, Route::Io),
        (light, 2, Some(10), Route::Io),
    ]
    .into();
    let db_steady: Vec<_> = [("initech", 200), ("acme", 100), ("globex", 50)]
        .iter()
        .map(|&(t, rate)| (t, 2, Some(rate / 2), Route::DbInvoice))
        .collect();
    let mut db_slow = db_steady.clone();
    db_slow.push((FLOODER, 12, None, Route::DbSleep));

    let mut statuses: BTreeMap<(&str, u16), u64> = BTreeMap::new();
    let mut count = |runs: &[&BTreeMap<&'static str, PerTenant>]| {
        for run in runs {
            for (tenant, per) in run.iter() {
                for (status, n) in &per.statuses {
                    *statuses.entry((tenant, *status)).or_default() += n;
                }
            }
        }
    };
    let (mut quiet_all, mut loud_all) = (BTreeMap::new(), BTreeMap::new());
    let mut ratios: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut saturated_all = BTreeMap::new();
    let mut shares: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut bounded_shares: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let (mut db_quiet_all, mut db_slow_all, mut db_nobudget_all, mut db_unshared_all) = (
        BTreeMap::new(),
        BTreeMap::new(),
        BTreeMap::new(),
        BTreeMap::new(),
    );
    let mut db_ratios: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut db_nobudget_ratios: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut db_unshared_ratios: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for round in 0..rounds {
        // Alternate which goes first, so drift hits both alike.
        let (quiet, loud) = if round % 2 == 0 {
            let quiet = tenants_run(client, limited, &steady, seconds);
            (quiet, tenants_run(client, limited, &flooded, seconds))
        } else {
            let loud = tenants_run(client, limited, &flooded, seconds);
            (tenants_run(client, limited, &steady, seconds), loud)
        };
        for (tenant, _) in STEADY {
            let ratio = loud[tenant].p99() / quiet[tenant].p99();
            ratios.entry(tenant).or_default().push(ratio);
        }
        pool_into(&mut quiet_all, &quiet);
        pool_into(&mut loud_all, &loud);
        count(&[&quiet, &loud]);

        let run = tenants_run(client, saturated, &saturating, seconds);
        let backlogged: u64 = ["initech", "acme", FLOODER]
            .iter()
            .map(|t| served(&run[t]))
            .sum();
        for tenant in ["initech", "acme", FLOODER] {
            shares
                .entry(tenant)
                .or_default()
                .push(served(&run[tenant]) as f64 / backlogged as f64);
        }
        pool_into(&mut saturated_all, &run);
        let run = tenants_run(client, saturated_shares, &saturating, seconds);
        let backlogged: u64 = ["initech", "acme", FLOODER]
            .iter()
            .map(|t| served(&run[t]))
            .sum();
        for tenant in ["initech", "acme", FLOODER] {
            bounded_shares
                .entry(tenant)
                .or_default()
                .push(served(&run[tenant]) as f64 / backlogged as f64);
        }
        count(&[&run]);

        if let (Some(budgeted), Some(unshared), Some(unbudgeted)) = (budgeted, unshared, unbudgeted)
        {
            let mut runs = [
                (budgeted, &db_steady),
                (budgeted, &db_slow),
                (unbudgeted, &db_slow),
                (unshared, &db_slow),
            ];
            // Rotated, so drift hits the four alike.
            runs.rotate_left(round % 4);
            let mut out: Vec<_> = runs
                .iter()
                .map(|&(addr, clients)| {
                    (
                        addr,
                        clients.len(),
                        tenants_run(client, addr, clients, seconds),
                    )
                })
                .collect();
            out.rotate_right(round % 4);
            let [
                (_, _, quiet),
                (_, _, slow),
                (_, _, nobudget),
                (_, _, unshared),
            ] = <[_; 4]>::try_from(out).unwrap_or_else(|_| unreachable!());
            for (tenant, _) in STEADY {
                db_ratios
                    .entry(tenant)
                    .or_default()
                    .push(slow[tenant].p99() / quiet[tenant].p99());
                db_nobudget_ratios
                    .entry(tenant)
                    .or_default()
                    .push(nobudget[tenant].p99() / quiet[tenant].p99());
                db_unshared_ratios
                    .entry(tenant)
                    .or_default()
                    .push(unshared[tenant].p99() / quiet[tenant].p99());
            }
            pool_into(&mut db_quiet_all, &quiet);
            pool_into(&mut db_slow_all, &slow);
            pool_into(&mut db_nobudget_all, &nobudget);
            pool_into(&mut db_unshared_all, &unshared);
        }
        eprintln!(
            "{name} noisy round {round}: flooder p99 ratios {:?}; shares {:?}; pg_sleep p99 ratios {:?}",
            ratios
                .iter()
                .map(|(t, r)| (t, r.last()))
                .collect::<Vec<_>>(),
            shares
                .iter()
                .map(|(t, r)| (t, r.last()))
                .collect::<Vec<_>>(),
            db_ratios
                .iter()
                .map(|(t, r)| (t, r.last()))
                .collect::<Vec<_>>(),
        );
    }
    let mut out = format!(
        "### {name}: noisy neighbours (`FairLayer`, `DbBudget`)\n\n{rounds} rounds of {seconds} s \
         per run. Steady tenants paced (initech enterprise 600 req/s, acme pro 300, globex free \
         100; missed ticks skipped); hooli (free) floods at 10× the steady free tenant, 1,000 \
         req/s over 8 connections. p99 over every request of every round (pooled).\n\n"
    );
    out += &p99_table(&quiet_all, &loud_all, &ratios, "flooded");

    let light_sent: u64 = saturated_all[light].statuses.values().sum();
    out += &format!(
        "\nShares under saturation (2 slots; `GET /io` waits 2 ms; initech, acme and hooli \
         backlogged over 16 unpaced connections each; globex paced at 20 req/s, below its share). \
         globex, below its share: {} of {light_sent} requests served, p99 {:.0} µs. The \
         backlogged tenants' shares of what they were served, against their weights:\n\n\
         | backlogged tenant | weight | ideal share | served share (median over rounds) | \
         [min, max] | off by |\n|---|---:|---:|---:|---:|---:|\n",
        served(&saturated_all[light]),
        saturated_all[light].p99(),
    );
    for (tenant, weight) in [("initech", 10.0), ("acme", 3.0), (FLOODER, 1.0)] {
        let ideal = weight / 14.0;
        let share = quartiles(shares[tenant].clone())[0];
        let (lo, hi) = min_max(&shares[tenant]);
        out += &format!(
            "| {tenant} | {weight} | {ideal:.3} | **{share:.3}** | [{lo:.3}, {hi:.3}] | {:+.1}% |\n",
            (share / ideal - 1.0) * 100.0
        );
    }
    out += "\nThe same with the default bounds of a tenant's slots (of 2 slots: enterprise 2, pro 1, \
            free 1):\n\n| backlogged tenant | ideal share | served share (median) | [min, max] |\n\
            |---|---:|---:|---:|\n";
    for (tenant, weight) in [("initech", 10.0), ("acme", 3.0), (FLOODER, 1.0)] {
        let share = quartiles(bounded_shares[tenant].clone())[0];
        let (lo, hi) = min_max(&bounded_shares[tenant]);
        out += &format!(
            "| {tenant} | {:.3} | **{share:.3}** | [{lo:.3}, {hi:.3}] |\n",
            weight / 14.0
        );
    }
    if budgeted.is_some() {
        out += &format!(
            "\nSlow queries (`DbBudget` over the service's pool of 10: enterprise 8 connections, \
             pro 3, free 1; behind `FairLayer`, 8 slots, a tenant's bounded by its share: free \
             1). The steady tenants' point queries in budgeted transactions \
             (initech 200 req/s, acme 100, globex 50), without and with hooli running \
             `SELECT pg_sleep(0.1)` on every request over 12 unpaced connections:\n\n{}\n\
             The same, the transactions begun straight from the pool (no `DbBudget`):\n\n{}\n\
             The same with `DbBudget`, the slots not bounded by share (full weight 1; as before \
             the bound):\n\n{}",
            p99_table(&db_quiet_all, &db_slow_all, &db_ratios, "with pg_sleep"),
            p99_table(
                &db_quiet_all,
                &db_nobudget_all,
                &db_nobudget_ratios,
                "pg_sleep, no budget"
            ),
            p99_table(
                &db_quiet_all,
                &db_unshared_all,
                &db_unshared_ratios,
                "pg_sleep, slots unbounded"
            ),
        );
        out += &format!(
            "\nhooli's pg_sleep requests served: {} with the budget, {} without.\n",
            served(&db_slow_all[FLOODER]),
            served(&db_nobudget_all[FLOODER]),
        );
        count(&[
            &db_quiet_all,
            &db_slow_all,
            &db_nobudget_all,
            &db_unshared_all,
        ]);
    }
    count(&[&saturated_all]);
    out += "\n| tenant | status | count (every scenario, every run) |\n|---|---:|---:|\n";
    for ((tenant, status), count) in &statuses {
        out += &format!("| {tenant} | {status} | {count} |\n");
    }
    println!("{out}");
    // What must hold whatever the timings: only the flooder is refused, and nobody's request
    // fails.
    for ((tenant, status), count) in &statuses {
        if *tenant != FLOODER {
            assert_eq!(
                *status, 200,
                "{count} requests of steady {tenant} answered {status}"
            );
        } else {
            assert!(
                [200, 429].contains(status),
                "{count} requests of {tenant} answered {status}"
            );
        }
    }
    out + "\n"
}

fn main() {
    // `cargo bench` passes `--bench`; this harness takes its settings from the environment.
    let settings = Settings {
        requests: env_or("TENANT_LOAD_REQUESTS", 20_000),
        connections: env_or("TENANT_LOAD_CONNECTIONS", 16),
        flood_connections: env_or("TENANT_LOAD_FLOOD_CONNECTIONS", 8),
        flood_rate: env_or("TENANT_LOAD_FLOOD_RATE", 10_000),
        rounds: env_or("TENANT_BENCH_ROUNDS", 9),
    };
    let runtime = |name: &str| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(name)
            .enable_all()
            .build()
            .unwrap()
    };
    // Named, so that `server_cpu_ns` tells the server's threads from the client's.
    let (server, client) = (runtime("server"), runtime("client"));
    let only = std::env::var("TENANT_BENCH_ONLY").unwrap_or_default();
    let mut out = String::from("# Load test of the request boundary\n\n");

    if "sqlite".contains(&only) {
        // One connection by default: the example's transactions begin IMMEDIATE (the placement
        // check), so they run one at a time anyway, and more connections to one in-memory
        // database (shared through SQLite's shared cache) only wait on and wake each other
        // (about 230 µs of CPU a point query with 10 connections, against about 85 with one).
        let connections = env_or("TENANT_LOAD_SQLITE_CONNECTIONS", 1) as u32;
        let pool = server.block_on(async {
            sqlx::sqlite::SqlitePoolOptions::new()
                .max_connections(connections)
                .connect("sqlite::memory:")
                .await
                .unwrap()
        });
        out += &backend("sqlite", &server, &client, &settings, Db::Sqlite(pool));
    }
    match std::env::var("DATABASE_URL") {
        Ok(url) if "postgres".contains(&only) => {
            let schema = format!("bench_load_{}", std::process::id());
            let (admin, pool) = server.block_on(async {
                let admin = sqlx::PgPool::connect(&url).await.unwrap();
                sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                    .execute(&admin)
                    .await
                    .unwrap();
                // As many connections as sqlx gives a pool by default: the registry's lookups
                // and the handlers' queries share them, as in the example.
                let options: sqlx::postgres::PgConnectOptions = url.parse().unwrap();
                let pool = sqlx::postgres::PgPoolOptions::new()
                    .max_connections(10)
                    .connect_with(options.options([("search_path", schema.as_str())]))
                    .await
                    .unwrap();
                (admin, pool)
            });
            out += &backend("postgres", &server, &client, &settings, Db::Postgres(pool));
            server.block_on(async {
                sqlx::query(AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                    .execute(&admin)
                    .await
                    .unwrap();
            });
        }
        Ok(_) => {}
        Err(_) => eprintln!("notice: PostgreSQL skipped: DATABASE_URL is not set"),
    }
    tenant_benches::write_target("bench-load.md", &out);
}
