//! Compile-fail and compile-pass cases of the macros and of the types that make a forgotten
//! tenant a compile error. The `.stderr` files are the rustc output of the toolchain in CI
//! (rust-version and newer stable may word errors differently: regenerate with
//! `TRYBUILD=overwrite cargo test --test compiletest` and review the diff).

/// Cases named `<feature>_*` use items of that feature and run when it is on.
fn enabled(path: &std::path::Path) -> bool {
    let name = path.file_name().unwrap().to_string_lossy();
    let gated = [
        ("redis_", cfg!(feature = "redis")),
        ("temporal_", cfg!(feature = "temporal")),
    ];
    gated
        .iter()
        .all(|(prefix, on)| *on || !name.starts_with(prefix))
}

fn cases(dir: &str) -> Vec<std::path::PathBuf> {
    let mut cases: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "rs"))
        .filter(|path| enabled(path))
        .collect();
    cases.sort();
    cases
}

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    for case in cases("tests/ui/fail") {
        t.compile_fail(case);
    }
    for case in cases("tests/ui/pass") {
        t.pass(case);
    }
}
