//! The `tenant-audit` binary on a throwaway tree: what it prints, what it skips, its exit status.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A fresh directory under the system's temporary directory, removed on drop.
struct TempTree(PathBuf);

impl TempTree {
    fn new(files: &[(&str, &str)]) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let root = std::env::temp_dir().join(format!(
            "tenant-audit-cli-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&root);
        for (path, text) in files {
            let path = root.join(path);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, text).unwrap();
        }
        TempTree(root)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempTree {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn audit(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tenant-audit"))
        .current_dir(cwd)
        .args(args)
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

const LIB: &str = r#"//! Docs: `TenantCtx::trusted(id, schema, plan)` is not a mint here.

use tenant::{Plan, SystemCtx, TenantClaim, TenantCtx};

/// `SystemCtx::new("docs")` is not one either.
pub fn ctx() -> TenantCtx {
    let note = "TenantCtx::trusted(in a string)"; // TenantCtx::trusted(in a comment)
    TenantCtx::trusted("acme".parse().unwrap(), "tenant_acme".parse().unwrap(), Plan::Pro)
}

pub async fn job(claim: TenantClaim) -> Result<(), Box<dyn std::error::Error>> {
    let sys = SystemCtx::new("nightly purge")?;
    let ctx = claim.verify(&registry, &config).await?;
    Ok(())
}
"#;

const JOBS: &str = r#"
#[tenant::activities]
impl Jobs {
    #[activity(system = "cleanup of deactivated tenants")]
    async fn cleanup(_: ActivityContext, sys: SystemCtx) {}
}
"#;

const MINT: &str = "fn f() { TenantCtx::trusted(a, b, c); }\n";

fn tree() -> TempTree {
    TempTree::new(&[
        ("src/lib.rs", LIB),
        ("src/jobs/mod.rs", JOBS),
        ("tests/it.rs", MINT),
        ("examples/demo/tests/it.rs", MINT),
        ("target/debug/build/generated.rs", MINT),
        (".hidden/x.rs", MINT),
        ("src/.#lib.rs", MINT),
        ("notes.txt", MINT),
        ("README.md", MINT),
    ])
}

const ALL: &str = "\
examples/demo/tests/it.rs:1: trusted: TenantCtx::trusted(a, b, c)
src/jobs/mod.rs:4: activity: \"cleanup of deactivated tenants\"
src/lib.rs:8: trusted: TenantCtx::trusted(\"acme\".parse().unwrap(), \"tenant_acme\".parse().unwrap(), Plan::Pro)
src/lib.rs:12: system: \"nightly purge\"
src/lib.rs:13: verify: claim.verify(&registry, &config)
tests/it.rs:1: trusted: TenantCtx::trusted(a, b, c)
";

#[test]
fn lists_every_mint_sorted_and_skips_target_hidden_and_non_rust() {
    let tree = tree();
    let output = audit(tree.path(), &["."]);
    assert_eq!(stderr(&output), "");
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(stdout(&output), ALL);

    // The same from elsewhere, by an absolute root, and on a second run: nothing depends on the
    // working directory, the root's spelling, time or directory order.
    let output = audit(&std::env::temp_dir(), &[tree.path().to_str().unwrap()]);
    assert_eq!(stdout(&output), ALL);
    let output = audit(tree.path(), &["./"]);
    assert_eq!(stdout(&output), ALL);
}

#[test]
fn excludes_by_name_at_any_depth_or_by_path() {
    let tree = tree();
    let only_src = "\
src/jobs/mod.rs:4: activity: \"cleanup of deactivated tenants\"
src/lib.rs:8: trusted: TenantCtx::trusted(\"acme\".parse().unwrap(), \"tenant_acme\".parse().unwrap(), Plan::Pro)
src/lib.rs:12: system: \"nightly purge\"
src/lib.rs:13: verify: claim.verify(&registry, &config)
";
    let output = audit(tree.path(), &[".", "--exclude", "tests"]);
    assert_eq!(stdout(&output), only_src);
    let output = audit(
        tree.path(),
        &["--exclude=tests/", "--exclude", "examples/*/tests", "."],
    );
    assert_eq!(stdout(&output), only_src);
    // With a `/`, from the root: `*/*/tests` is `examples/demo/tests`, not `tests`.
    let output = audit(tree.path(), &[".", "--exclude", "*/*/tests"]);
    assert!(
        stdout(&output).contains("\ntests/it.rs:1"),
        "{}",
        stdout(&output)
    );
    assert!(
        !stdout(&output).contains("examples/"),
        "{}",
        stdout(&output)
    );
    let output = audit(
        tree.path(),
        &[".", "--exclude", "src/jobs", "--exclude", "examples"],
    );
    assert!(!stdout(&output).contains("src/jobs"));
    assert!(stdout(&output).contains("src/lib.rs:8"));
}

#[test]
fn kinds_filter() {
    let tree = tree();
    let output = audit(tree.path(), &[".", "--kinds", "system,activity"]);
    assert_eq!(
        stdout(&output),
        "src/jobs/mod.rs:4: activity: \"cleanup of deactivated tenants\"\n\
         src/lib.rs:12: system: \"nightly purge\"\n"
    );
    let output = audit(tree.path(), &[".", "--kinds=verify", "--kinds", "system"]);
    assert_eq!(
        stdout(&output),
        "src/lib.rs:12: system: \"nightly purge\"\n\
         src/lib.rs:13: verify: claim.verify(&registry, &config)\n"
    );
}

#[test]
fn several_roots_and_files_keep_their_prefix() {
    let tree = tree();
    let output = audit(tree.path(), &["src/jobs", "tests/", "src/jobs/mod.rs"]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        stdout(&output),
        "src/jobs/mod.rs:4: activity: \"cleanup of deactivated tenants\"\n\
         tests/it.rs:1: trusted: TenantCtx::trusted(a, b, c)\n"
    );
    // One root: relative to it.
    let output = audit(tree.path(), &["src"]);
    assert!(
        stdout(&output).starts_with("jobs/mod.rs:4: activity:"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn a_file_that_does_not_lex_is_on_stderr_and_exits_2() {
    let tree = TempTree::new(&[
        ("src/lib.rs", MINT),
        (
            "src/broken.rs",
            "fn f() {\n    let s = \"never closed;\n}\n",
        ),
    ]);
    let output = audit(tree.path(), &["."]);
    assert_eq!(output.status.code(), Some(2));
    // The other files' findings are still printed; the broken one is named on stderr only.
    assert_eq!(
        stdout(&output),
        "src/lib.rs:1: trusted: TenantCtx::trusted(a, b, c)\n"
    );
    let err = stderr(&output);
    assert!(err.starts_with("tenant-audit: src/broken.rs:"), "{err}");
    assert!(err.contains("does not lex"), "{err}");
}

#[test]
fn usage_errors_exit_2() {
    let tree = tree();
    let output = audit(tree.path(), &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("no path given"),
        "{}",
        stderr(&output)
    );

    let output = audit(tree.path(), &[".", "--kinds", "trusted,sytem"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output)
            .contains("unknown kind `sytem`; expected one of: trusted, system, provision, activity, verify, registry, sign, sql, unfenced"),
        "{}",
        stderr(&output)
    );

    let output = audit(tree.path(), &[".", "--exclud", "tests"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("unknown option `--exclud`"),
        "{}",
        stderr(&output)
    );

    let output = audit(tree.path(), &[".", "--exclude"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("--exclude needs a value"),
        "{}",
        stderr(&output)
    );

    let output = audit(tree.path(), &["no-such-dir"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).starts_with("tenant-audit: no-such-dir: "),
        "{}",
        stderr(&output)
    );

    let output = audit(tree.path(), &["--help"]);
    assert_eq!(output.status.code(), Some(0));
    assert!(stdout(&output).starts_with("usage: tenant-audit"));
}

/// Issue 21, item 7: `--exclude tests` skipped every directory called `tests`, a module of the
/// program among them. What is test code is a Cargo package's own `tests/` and `benches/`.
#[test]
fn skips_the_test_targets_of_packages_not_every_tests_directory() {
    let tree = TempTree::new(&[
        ("Cargo.toml", "[workspace]\n"),
        ("tests/it.rs", MINT),
        ("benches/b.rs", MINT),
        ("crate-a/Cargo.toml", "[package]\n"),
        ("crate-a/tests/it.rs", MINT),
        ("crate-a/benches/b.rs", MINT),
        ("crate-a/src/lib.rs", "mod tests;\n"),
        ("crate-a/src/tests/mod.rs", MINT),
        ("tools/tests/x.rs", MINT),
    ]);
    let output = audit(tree.path(), &["--skip-test-targets", "."]);
    assert_eq!(stderr(&output), "");
    assert_eq!(
        stdout(&output),
        "crate-a/src/tests/mod.rs:1: trusted: TenantCtx::trusted(a, b, c)\n\
         tools/tests/x.rs:1: trusted: TenantCtx::trusted(a, b, c)\n"
    );
}

/// Issue 21, item 7: an alias made in one file and used in another (`crate::Ctx::trusted`).
#[test]
fn aliases_are_followed_across_files() {
    let tree = TempTree::new(&[
        (
            "src/lib.rs",
            "pub use tenant::TenantCtx as Ctx;\npub type Sys = tenant::SystemCtx;\nmod job;\n",
        ),
        (
            "src/job.rs",
            "fn f() {\n    crate::Ctx::trusted(a, b, c);\n    super::Sys::new(\"far away\");\n}\n",
        ),
    ]);
    let output = audit(tree.path(), &["."]);
    assert_eq!(stderr(&output), "");
    assert_eq!(
        stdout(&output),
        "src/job.rs:2: trusted: crate::Ctx::trusted(a, b, c)\n\
         src/job.rs:3: system: \"far away\"\n"
    );
}

/// Issue 22, item 5: sqlx's functions re-exported by a module of the application's own
/// (`db.rs`, `store/mod.rs`, `lib.rs`) and called through it from another file.
#[test]
fn raw_sql_re_exported_by_a_module_of_ones_own() {
    let tree = TempTree::new(&[
        (
            "src/lib.rs",
            "pub use sqlx::raw_sql as run;\nmod db;\nmod store;\nmod job;\n",
        ),
        ("src/db.rs", "pub use sqlx::{query, query_as};\n"),
        ("src/store/mod.rs", "pub use sqlx::*;\n"),
        (
            "src/job.rs",
            "async fn f() {\n    crate::db::query(\"DELETE FROM invoices\");\n    \
             super::store::query_scalar(\"SELECT 1\");\n    crate::run(\"VACUUM\");\n    \
             other::query(\"not sqlx\");\n}\n",
        ),
    ]);
    let output = audit(tree.path(), &["--kinds", "sql", "."]);
    assert_eq!(stderr(&output), "");
    assert_eq!(
        stdout(&output),
        "src/job.rs:2: sql: crate::db::query(\"DELETE FROM invoices\")\n\
         src/job.rs:3: sql: super::store::query_scalar(\"SELECT 1\")\n\
         src/job.rs:4: sql: crate::run(\"VACUUM\")\n"
    );
}

/// `cargo tenant-audit` as cargo runs it (`cargo-tenant-audit tenant-audit <args>`).
fn cargo_audit(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cargo-tenant-audit"))
        .current_dir(cwd)
        .arg("tenant-audit")
        .args(args)
        .output()
        .unwrap()
}

/// The example app of the workspace: a user's crate.
fn example_app() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/app")
}

#[test]
fn cargo_subcommand_on_the_example_app_prints_its_checked_in_inventory() {
    let app = example_app();
    let output = cargo_audit(&app, &["--skip-test-targets"]);
    assert_eq!(stderr(&output), "");
    assert_eq!(output.status.code(), Some(0));
    let checked_in = fs::read_to_string(app.join("tenant-audit.txt")).unwrap();
    assert_eq!(stdout(&output), checked_in);
    assert!(
        checked_in.contains(": trusted: TenantCtx::trusted("),
        "{checked_in}"
    );
    assert!(
        checked_in.contains(": sql: sqlx::query_scalar("),
        "{checked_in}"
    );

    let output = cargo_audit(
        &app,
        &["--skip-test-targets", "--check", "tenant-audit.txt"],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(stdout(&output), "");
}

#[test]
fn a_new_trusted_context_in_the_example_app_fails_the_check() {
    let app = example_app();
    let file = |path: &str| fs::read_to_string(app.join(path)).unwrap();
    let (lib, main, fixtures, inventory) = (
        file("src/lib.rs"),
        file("src/main.rs"),
        file("src/fixtures.rs"),
        file("tenant-audit.txt"),
    );
    // Moved down by a blank line and a comment: not new.
    let moved = format!("\n// moved\n{main}");
    let backdoor = "pub fn admin() -> TenantCtx {\n    TenantCtx::trusted(\"root\".parse().unwrap(), \"s\".parse().unwrap(), Plan::Free)\n}\n";
    let tree = TempTree::new(&[
        ("src/lib.rs", &lib),
        ("src/main.rs", &moved),
        ("src/fixtures.rs", &fixtures),
        ("tenant-audit.txt", &inventory),
        ("src/admin.rs", backdoor),
    ]);
    let output = cargo_audit(tree.path(), &["--check", "tenant-audit.txt"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        "new: src/admin.rs:2: trusted: TenantCtx::trusted(\"root\".parse().unwrap(), \"s\".parse().unwrap(), Plan::Free)\n"
    );
    assert!(stderr(&output).contains("1 site(s) not in tenant-audit.txt"));

    // As SARIF, the log holds the new site alone: what a pull request shows.
    let output = cargo_audit(
        tree.path(),
        &["--check", "tenant-audit.txt", "--format", "sarif"],
    );
    assert_eq!(output.status.code(), Some(1));
    let log: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let results = log["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), 1);
    assert_eq!(results[0]["ruleId"], "trusted");
    assert_eq!(
        results[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "src/admin.rs"
    );
}

/// What SARIF 2.1.0's schema requires of what we emit (sarif-schema-2.1.0.json: `version`,
/// `runs`; a run's `tool.driver.name`; a result's `message` with `text`; a location's
/// `physicalLocation.artifactLocation.uri` and a `region` whose `startLine` is at least 1; a
/// `ruleIndex` naming the rule whose `id` is the `ruleId`). The full schema was checked once
/// with a JSON-schema validator (see CHANGELOG.md); this keeps the output inside it.
#[test]
fn sarif_output_has_what_the_2_1_0_schema_requires() {
    let output = cargo_audit(
        &example_app(),
        &["--skip-test-targets", "--format", "sarif"],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let log: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(log["version"], "2.1.0");
    let runs = log["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1);
    let driver = &runs[0]["tool"]["driver"];
    assert_eq!(driver["name"], "tenant-audit");
    let rules = driver["rules"].as_array().unwrap();
    let ids: Vec<&str> = rules.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [
            "trusted",
            "system",
            "provision",
            "activity",
            "verify",
            "registry",
            "sign",
            "sql",
            "unfenced"
        ]
    );
    for rule in rules {
        assert!(rule["shortDescription"]["text"].is_string());
    }
    let results = runs[0]["results"].as_array().unwrap();
    assert_eq!(results.len(), 2, "the example's two sites");
    for result in results {
        let index = result["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[index]["id"], result["ruleId"]);
        assert!(["none", "note", "warning", "error"].contains(&result["level"].as_str().unwrap()));
        assert!(!result["message"]["text"].as_str().unwrap().is_empty());
        let location = &result["locations"][0]["physicalLocation"];
        let uri = location["artifactLocation"]["uri"].as_str().unwrap();
        assert!(uri.starts_with("src/") && !uri.contains('\\'), "{uri}");
        assert!(location["region"]["startLine"].as_u64().unwrap() >= 1);
        assert!(location["region"]["startColumn"].as_u64().unwrap() >= 1);
    }
}

#[test]
fn cargo_subcommand_scans_the_current_directory_by_default_and_refuses_a_bad_format() {
    let tree = tree();
    let output = cargo_audit(tree.path(), &[]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(stdout(&output), ALL);
    let output = cargo_audit(tree.path(), &["--format", "xml"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("--format: unknown format `xml`; expected `text` or `sarif`"));
    let output = cargo_audit(tree.path(), &["--check", "no-such-file.txt"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("--check no-such-file.txt"));
}
