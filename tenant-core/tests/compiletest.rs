//! Compile-fail cases of the core types: what cannot be built by hand (a `TenantCtx`, a
//! `SystemCtx`, a `TenantId` from a string), one misuse per file. The `.stderr` files are the
//! output of the toolchain CI runs; regenerate with `TRYBUILD=overwrite cargo test -p tenant-core
//! --test compiletest` and review the diff.

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
