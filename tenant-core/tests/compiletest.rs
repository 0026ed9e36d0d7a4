//! Compile-fail cases of the core types: what cannot be built by hand (a `TenantCtx`, a
//! `SystemCtx`, a `TenantId` from a string), one misuse per file. The `.stderr` files are the
//! output of the toolchain CI runs; regenerate with `TRYBUILD=overwrite cargo test -p tenant-core
//! --test compiletest` and review the diff.

#[test]
fn ui() {
    trybuild::TestCases::new().compile_fail("tests/ui/fail/*.rs");
}
