//! Compile-fail cases of the Redis integration: keys, collection names and events exist only
//! through a `TenantCtx`, one misuse per file. Regenerate the `.stderr` files with
//! `TRYBUILD=overwrite cargo test -p tenant-redis --test compiletest` and review the diff.

// The `.stderr` files are rustc 1.95's output; other compilers word (and span) diagnostics
// differently, so elsewhere the cases are skipped rather than failed (thiserror's gate).
#[rustversion::attr(
    not(stable(1.95)),
    ignore = "the .stderr files were written by rustc 1.95"
)]
#[test]
fn ui() {
    trybuild::TestCases::new().compile_fail("tests/ui/fail/*.rs");
}
