//! Compile-fail and compile-pass cases of `#[tenant::activities]`, one misuse per file.
//! Regenerate the `.stderr` files with `TRYBUILD=overwrite cargo test -p tenant-temporal --test
//! compiletest` and review the diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/activities/fail/*.rs");
    t.pass("tests/ui/activities/pass/*.rs");
}
