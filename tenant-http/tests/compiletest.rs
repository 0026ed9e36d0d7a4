//! Compile-fail cases of the request boundary: a resolver resolves, is shared and is layered only
//! once the application chose how it authenticates (`.users(hook)` or `.anonymous()`), one misuse
//! per file. The `.stderr` files are the output of the toolchain CI runs; regenerate with
//! `TRYBUILD=overwrite cargo test -p tenant-http --all-features --test compiletest` and review
//! the diff.

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
