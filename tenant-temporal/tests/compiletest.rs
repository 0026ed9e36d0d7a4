//! Compile-fail cases of `#[tenant::activities]`, one misuse per file. The compile-pass case
//! (`tests/ui/activities/pass`) is a `[[test]]` target of its own (see Cargo.toml).
//! Regenerate the `.stderr` files with `TRYBUILD=overwrite cargo test -p tenant-temporal --test
//! compiletest` and review the diff.

// The `.stderr` files are rustc 1.95's output; other compilers word (and span) diagnostics
// differently, so elsewhere the cases are skipped rather than failed (thiserror's gate).
#[rustversion::attr(
    not(stable(1.95)),
    ignore = "the .stderr files were written by rustc 1.95"
)]
#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/activities/fail/*.rs");
}
