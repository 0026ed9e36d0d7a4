//! What the property-based fuzz tests share: their size, their runner, and the tenant id
//! grammar written again, independently of the crate, as the reference they check against.

use proptest::test_runner::{Config, TestRunner};

/// Cases per property: `TENANT_FUZZ_CASES`, or proptest's own default of 256, so a local
/// `cargo test` stays quick. CI sets its size in `.ci/run`; the sizes of the longer runs, one
/// variable away, are in RELIABILITY.md.
pub fn cases() -> u32 {
    std::env::var("TENANT_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(256)
}

/// A runner of [`cases`] cases. A failure prints the seed and the shrunk input; no file is
/// written under `tests/`.
pub fn runner() -> TestRunner {
    TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    })
}

/// The tenant id grammar: `[a-z0-9]([a-z0-9-]*[a-z0-9])?`, 1 to 63 bytes.
///
/// ```
/// use tenant_test_support::fuzz::is_tenant_id;
///
/// assert!(is_tenant_id("acme-co"));
/// assert!(!is_tenant_id("Acme") && !is_tenant_id("-acme") && !is_tenant_id(""));
/// ```
pub fn is_tenant_id(s: &str) -> bool {
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
    !s.is_empty()
        && s.len() <= 63
        && s.chars().all(allowed)
        && !s.starts_with('-')
        && !s.ends_with('-')
}
