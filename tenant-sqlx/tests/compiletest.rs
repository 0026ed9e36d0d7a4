//! Compile-fail cases of `#[tenant_scoped]` (`tests/ui/tenant_scoped/fail`), of the
//! repositories it generates (`tests/ui/repo/fail`) and of the checked queries
//! (`tests/ui/checked/fail`: every clause a plain table could hide in, every refusal, the
//! tricks), one misuse per file, all in one trybuild run (one build of its project). The compile-pass cases
//! (`tests/ui/tenant_scoped/pass`) are `[[test]]` targets of their own (see Cargo.toml), so
//! trybuild only checks (`cargo check`) and never builds the dependencies a second time. A misuse
//! that fails only when code is generated (a post-monomorphization error: `Col::new::<99>()`, a
//! column past the table) is invisible to a check, so it is a `compile_fail,E0080` doctest on
//! `Col::new`, which rustdoc compiles in full. The `.stderr` files are
//! the output of the toolchain CI runs; regenerate with `TRYBUILD=overwrite cargo test -p
//! tenant-sqlx --all-features --test compiletest` and review the diff.

// The `.stderr` files are rustc 1.95's output; other compilers word (and span) diagnostics
// differently, so elsewhere the cases are skipped rather than failed (thiserror's gate).
#[rustversion::attr(
    not(stable(1.95)),
    ignore = "the .stderr files were written by rustc 1.95"
)]
#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/tenant_scoped/fail/*.rs");
    t.compile_fail("tests/ui/repo/fail/*.rs");
    t.compile_fail("tests/ui/schema/fail/*.rs");
    t.compile_fail("tests/ui/checked/fail/*.rs");
}
