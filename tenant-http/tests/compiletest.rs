//! Compile-fail cases of the request boundary: a resolver resolves, is shared and is layered only
//! once the application chose how it authenticates (`.users(hook)` or `.anonymous()`), one misuse
//! per file. The `.stderr` files are the output of the toolchain CI runs; regenerate with
//! `TRYBUILD=overwrite cargo test -p tenant-http --all-features --test compiletest` and review
//! the diff.

#[test]
fn ui() {
    trybuild::TestCases::new().compile_fail("tests/ui/fail/*.rs");
}
