//! The sizes and seeds a run takes from its environment, so CI and a developer replaying a
//! failure name them the same way.

use crate::Rng;

/// `TENANT_LEAK_SEED` when set (a failing run prints it), else a fresh random seed.
///
/// # Panics
/// When `TENANT_LEAK_SEED` is set but is not a `u64`: a replay with a mistyped seed must not
/// silently run another program.
///
/// ```
/// let seed = tenant_testkit::seed();
/// println!("seed {seed}");
/// ```
pub fn seed() -> u64 {
    match std::env::var("TENANT_LEAK_SEED") {
        Ok(seed) => seed.parse().expect("TENANT_LEAK_SEED is a u64"),
        Err(_) => {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            Rng::new(nanos ^ u64::from(std::process::id())).next_u64()
        }
    }
}

/// `TENANT_LEAK_OPS` when set and a number, else `default`: CI sets the size once for every
/// search (`.ci/run`), a local run keeps its quick default.
///
/// ```
/// let n = tenant_testkit::ops_from_env(500);
/// assert!(n > 0 || std::env::var("TENANT_LEAK_OPS").is_ok());
/// ```
pub fn ops_from_env(default: usize) -> usize {
    ops_from_var("TENANT_LEAK_OPS", default)
}

/// The number in the environment variable `var` when set, else `default`: a search of its own
/// size (a small one through a pooler on CI, say), beside `TENANT_LEAK_OPS`.
///
/// ```
/// assert_eq!(tenant_testkit::ops_from_var("NO_SUCH_VARIABLE_SET_ANYWHERE", 300), 300);
/// ```
pub fn ops_from_var(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}
