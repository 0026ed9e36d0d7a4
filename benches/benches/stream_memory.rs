//! Peak heap memory of `repo.select(&ctx).stream()` against `.all()`, over 10^4 and 10^5 rows,
//! on SQLite in memory and on PostgreSQL (when DATABASE_URL is set, on a fresh schema). The
//! claim checked: a stream's peak does not grow with the number of rows.
//!
//! The heap is counted by a global allocator around `System`. SQLite's page cache allocates
//! through SQLite's own malloc and is not counted, which is the point: what is measured is the
//! buffering of this crate and of sqlx, not the database's. The table is printed and written to
//! `target/bench-stream-memory.md`.

// The entities below are benchmark fixtures, public only so the macro generates what a user's
// public entity gets; they are not documented API.
#![allow(missing_docs)]
// The one place in the workspace that needs `unsafe`: a counting global allocator.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use futures_util::TryStreamExt as _;
use sqlx::AssertSqlSafe;
use tenant::{Plan, TenantCtx, TenantId, tenant_scoped};

/// `System`, counting the bytes currently allocated and their peak since the last reset.
struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

impl Counting {
    fn grew(by: usize) {
        let now = CURRENT.fetch_add(by, Ordering::Relaxed) + by;
        PEAK.fetch_max(now, Ordering::Relaxed);
    }

    fn shrank(by: usize) {
        CURRENT.fetch_sub(by, Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded to `System` unchanged; the counters only observe sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which is `System`'s.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            Counting::grew(layout.size());
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            Counting::grew(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` through this allocator with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        Counting::shrank(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `dealloc`; `System` keeps the block when it returns null.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            Counting::grew(new_size);
            Counting::shrank(layout.size());
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `measured` and returns its result and the peak heap above what was allocated before it.
async fn peak_of<T>(measured: impl AsyncFnOnce() -> T) -> (T, usize) {
    let before = CURRENT.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let out = measured().await;
    (out, PEAK.load(Ordering::Relaxed).saturating_sub(before))
}

#[tenant_scoped(table = "events")]
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    pub kind: String,
    pub amount_cents: i64,
}

const SIZES: [i64; 2] = [10_000, 100_000];

fn ctx(size: i64) -> TenantCtx {
    TenantCtx::trusted(
        format!("t{size}").parse().unwrap(),
        "tenant_s".parse().unwrap(),
        Plan::Pro,
    )
}

/// One line of the table: backend, rows, stream peak, `all()` peak.
type Line = (&'static str, i64, usize, usize);

macro_rules! backend {
    ($name:ident, $pool:ty) => {
        mod $name {
            use super::*;

            /// Tenant `t{size}` holds `size` rows, for every size.
            pub(crate) async fn seed(pool: &$pool) {
                let mut repo = EventRepo::new(pool);
                repo.create_table().await.unwrap();
                for size in SIZES {
                    let rows = (0..size).map(|id| NewEvent {
                        id,
                        kind: format!("sale {id:08}"),
                        amount_cents: id,
                    });
                    assert_eq!(
                        repo.insert_many(&ctx(size), rows).await.unwrap(),
                        size as u64
                    );
                }
            }

            pub(crate) async fn measure(label: &'static str, pool: &$pool) -> Vec<Line> {
                let mut lines = Vec::new();
                for size in SIZES {
                    let ctx = ctx(size);
                    let mut repo = EventRepo::new(pool);
                    // Once unmeasured: the statement is prepared and cached before either runs.
                    repo.select(&ctx).all().await.unwrap();
                    let (streamed, stream_peak) = peak_of(async || {
                        let mut rows = repo.select(&ctx).stream();
                        let mut count = 0_i64;
                        while let Some(row) = rows.try_next().await.unwrap() {
                            drop(row);
                            count += 1;
                        }
                        count
                    })
                    .await;
                    let (all, all_peak) =
                        peak_of(async || repo.select(&ctx).all().await.unwrap().len()).await;
                    assert_eq!((streamed, all as i64), (size, size));
                    eprintln!("{label}: {size} rows: stream {stream_peak} B, all() {all_peak} B");
                    lines.push((label, size, stream_peak, all_peak));
                }
                lines
            }
        }
    };
}

backend!(sqlite, sqlx::SqlitePool);
backend!(postgres, sqlx::PgPool);

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut lines = rt.block_on(async {
        let options = sqlx::sqlite::SqlitePoolOptions::new().max_connections(1);
        let pool = options.connect("sqlite::memory:").await.unwrap();
        sqlite::seed(&pool).await;
        sqlite::measure("sqlite", &pool).await
    });

    match std::env::var("DATABASE_URL") {
        Ok(url) => rt.block_on(async {
            let schema = format!("bench_stream_memory_{}", std::process::id());
            let admin = sqlx::PgPool::connect(&url).await.unwrap();
            let pool = tenant_benches::fresh_schema(&admin, &url, &schema).await;
            postgres::seed(&pool).await;
            lines.extend(postgres::measure("postgres", &pool).await);
            pool.close().await;
            sqlx::query(AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                .execute(&admin)
                .await
                .unwrap();
        }),
        Err(_) => eprintln!("notice: PostgreSQL skipped: DATABASE_URL is not set"),
    }

    let mut table = String::from(
        "| backend | rows | stream() peak heap | all() peak heap |\n|---|---:|---:|---:|\n",
    );
    for (backend, rows, stream, all) in lines {
        table += &format!("| {backend} | {rows} | {stream} B | {all} B |\n");
    }
    println!("\nPeak heap while reading every row of one tenant:\n\n{table}");
    tenant_benches::write_target("bench-stream-memory.md", &table);
}
