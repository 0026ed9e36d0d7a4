//! What `check` costs at compile time, per checked query: a loop, not a benchmark harness
//! (`cargo test -p tenant-sqlcheck --release --test timing -- --ignored --nocapture`).

use std::time::Instant;

use tenant_sqlcheck::{Options, check};

const THREE_TABLE_JOIN: &str = "SELECT c.name, count(i.id), sum(p.amount) FROM {Invoice} i \
    JOIN {Customer} c ON c.id = i.customer_id LEFT JOIN {Payment} p ON p.invoice_id = i.id \
    WHERE i.total > $1 GROUP BY c.name HAVING count(i.id) > $2 ORDER BY 2 DESC LIMIT $3";

#[test]
#[ignore = "a measurement, run by hand"]
fn check_a_three_table_join() {
    let options = Options {
        args: 3,
        shared: &[],
    };
    let n = 2_000;
    // Warm up.
    for _ in 0..100 {
        assert!(check(THREE_TABLE_JOIN, &options).is_ok());
    }
    let started = Instant::now();
    for _ in 0..n {
        assert!(check(THREE_TABLE_JOIN, &options).is_ok());
    }
    let per_call = started.elapsed() / n;
    println!("check of a three-table join: {per_call:?} per call ({n} calls)");
}

#[test]
#[ignore = "a measurement, run by hand"]
fn the_checking_threads_share() {
    let n = 2_000;
    let started = Instant::now();
    for _ in 0..n {
        std::thread::scope(|s| {
            std::thread::Builder::new()
                .stack_size(64 * 1024 * 1024)
                .spawn_scoped(s, || ())
                .expect("a thread")
                .join()
                .expect("joined")
        });
    }
    println!(
        "spawning and joining the checking thread: {:?} per call",
        started.elapsed() / n
    );
}
