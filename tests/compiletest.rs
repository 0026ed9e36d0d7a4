//! Compile-fail and compile-pass cases of the macros and of the types that make a forgotten
//! tenant a compile error. The `.stderr` files are the rustc output of the toolchain in CI
//! (rust-version and newer stable may word errors differently: regenerate with
//! `TRYBUILD=overwrite cargo test --test compiletest` and review the diff).

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/fail/*.rs");
    t.pass("tests/ui/pass/*.rs");
}
