//! Compile-fail cases of the Redis integration: keys, collection names and events exist only
//! through a `TenantCtx`, one misuse per file. Regenerate the `.stderr` files with
//! `TRYBUILD=overwrite cargo test -p tenant-redis --test compiletest` and review the diff.

#[test]
fn ui() {
    trybuild::TestCases::new().compile_fail("tests/ui/fail/*.rs");
}
