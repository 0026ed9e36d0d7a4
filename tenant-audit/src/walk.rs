//! Walking directories: which files are scanned, and how their findings are named and ordered.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::scan::{Shared, module_of_file};
use crate::{Kind, PATTERNS, Site};

/// One finding of an [`inventory`]: a [`Site`] in a file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Finding {
    /// The file, relative to the root it was found under, with `/` separators (prefixed by the
    /// root when [`inventory`] was given several).
    pub path: String,
    /// Line, from 1.
    pub line: usize,
    /// Column in characters, from 1; orders two findings on one line, not printed.
    pub column: usize,
    /// What it mints.
    pub kind: Kind,
    /// Reason or snippet, as in [`Site::detail`].
    pub detail: String,
}

impl fmt::Display for Finding {
    /// `path:line: kind: detail`, one line of the inventory.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {}: {}",
            self.path, self.line, self.kind, self.detail
        )
    }
}

/// A file or root that could not be scanned: unreadable, not UTF-8, or not lexing as Rust.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct FileError {
    /// The file, named like a [`Finding`]'s path (a root that cannot be read: as given).
    pub path: String,
    /// Line and column of a lexing error.
    pub position: Option<(usize, usize)>,
    /// What went wrong.
    pub message: String,
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some((line, column)) => write!(f, "{}:{line}:{column}: {}", self.path, self.message),
            None => write!(f, "{}: {}", self.path, self.message),
        }
    }
}

/// What [`inventory`] found, each list sorted (findings by path, line, column).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inventory {
    /// Every place that mints authority.
    pub findings: Vec<Finding>,
    /// Every file that could not be scanned. Not empty means the inventory is incomplete.
    pub errors: Vec<FileError>,
}

/// A path pattern whose files and directories [`inventory`] skips.
///
/// - Without a `/`, it names an entry at any depth: `tests` skips `tests/`,
///   `tenant-core/tests/` and `examples/temporal/tests/`.
/// - With a `/`, it is a path from the root: `examples/temporal/tests`. A leading `/` or `./`
///   and a trailing `/` change nothing.
/// - In a segment, `*` stands for any characters; a segment `**` for any number of segments:
///   `examples/*/tests`, `**/ui`.
///
/// Skipping a directory skips everything under it.
///
/// ```
/// use tenant_audit::Exclude;
///
/// let tests: Exclude = "tests".parse()?;
/// assert!(tests.matches("tests") && tests.matches("tenant-core/tests"));
/// assert!(!tests.matches("tenant-core/src/tests.rs"));
///
/// let example_tests: Exclude = "examples/*/tests".parse()?;
/// assert!(example_tests.matches("examples/temporal/tests"));
/// assert!(!example_tests.matches("tenant-core/tests"));
///
/// let generated: Exclude = "**/*_generated.rs".parse()?;
/// assert!(generated.matches("a/b/schema_generated.rs") && generated.matches("x_generated.rs"));
///
/// assert!("../elsewhere".parse::<Exclude>().is_err());
/// # Ok::<(), tenant_audit::ExcludeError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exclude {
    segments: Vec<String>,
    anchored: bool,
}

/// An [`Exclude`] pattern that is empty or climbs out of the root (`..`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExcludeError(pub String);

impl fmt::Display for ExcludeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid exclude pattern `{}`: write a name (`tests`) or a path from the root \
             (`examples/*/tests`), without `..`",
            self.0
        )
    }
}

impl std::error::Error for ExcludeError {}

impl FromStr for Exclude {
    type Err = ExcludeError;

    fn from_str(pattern: &str) -> Result<Self, Self::Err> {
        let normalized = pattern.replace('\\', "/");
        let mut trimmed = normalized.trim_end_matches('/');
        let mut anchored = false;
        loop {
            if let Some(rest) = trimmed.strip_prefix("./") {
                trimmed = rest;
                anchored = true;
            } else if let Some(rest) = trimmed.strip_prefix('/') {
                trimmed = rest;
                anchored = true;
            } else {
                break;
            }
        }
        let segments: Vec<String> = trimmed
            .split('/')
            .filter(|segment| !segment.is_empty() && *segment != ".")
            .map(str::to_owned)
            .collect();
        if segments.is_empty() || segments.iter().any(|segment| segment == "..") {
            return Err(ExcludeError(pattern.to_owned()));
        }
        anchored |= segments.len() > 1;
        Ok(Exclude { segments, anchored })
    }
}

impl Exclude {
    /// Whether the pattern names `path`: relative to the root, `/`-separated.
    pub fn matches(&self, path: &str) -> bool {
        let parts: Vec<&str> = path.split('/').filter(|part| !part.is_empty()).collect();
        if self.anchored {
            segments_match(&self.segments, &parts)
        } else {
            parts
                .last()
                .is_some_and(|name| glob_match(self.segments[0].as_bytes(), name.as_bytes()))
        }
    }
}

fn segments_match(pattern: &[String], parts: &[&str]) -> bool {
    match pattern.split_first() {
        None => parts.is_empty(),
        Some((first, rest)) if first == "**" => {
            (0..=parts.len()).any(|skip| segments_match(rest, &parts[skip..]))
        }
        Some((first, rest)) => parts.split_first().is_some_and(|(part, parts)| {
            glob_match(first.as_bytes(), part.as_bytes()) && segments_match(rest, parts)
        }),
    }
}

/// `*` for any run of bytes, everything else literally.
fn glob_match(pattern: &[u8], name: &[u8]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some((b'*', rest)) => (0..=name.len()).any(|skip| glob_match(rest, &name[skip..])),
        Some((first, rest)) => name
            .split_first()
            .is_some_and(|(byte, name)| byte == first && glob_match(rest, name)),
    }
}

/// What [`inventory`] skips and reports.
///
/// ```
/// use tenant_audit::{Kind, Options};
///
/// let options = Options::new()
///     .exclude("tests".parse()?)
///     .exclude("benches".parse()?)
///     .kinds([Kind::Trusted, Kind::System]);
/// assert!(options.wants(Kind::System) && !options.wants(Kind::Verify));
/// assert!(Options::new().wants(Kind::Verify));
/// # Ok::<(), tenant_audit::ExcludeError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Options {
    excludes: Vec<Exclude>,
    kinds: Option<Vec<Kind>>,
    skip_test_targets: bool,
}

impl Options {
    /// Every kind, nothing excluded beyond `target/`, `.git/` and hidden entries.
    pub fn new() -> Self {
        Self::default()
    }

    /// Also skip what `pattern` names.
    pub fn exclude(mut self, pattern: Exclude) -> Self {
        self.excludes.push(pattern);
        self
    }

    /// Also skip every package's integration tests and benchmarks: a directory named `tests` or
    /// `benches` beside a `Cargo.toml`. They are test code, like a `#[cfg(test)]` module (which
    /// is always skipped); a directory called `tests` anywhere else, a module of the program
    /// say, is scanned. Tests at a path of a `[[test]]` target's own choosing are not known
    /// here: [`exclude`](Self::exclude) them.
    ///
    /// ```
    /// use tenant_audit::Options;
    ///
    /// assert!(Options::new().skip_test_targets().skips_test_targets());
    /// assert!(!Options::new().skips_test_targets());
    /// ```
    pub fn skip_test_targets(mut self) -> Self {
        self.skip_test_targets = true;
        self
    }

    /// Whether [`skip_test_targets`](Self::skip_test_targets) was asked for.
    pub fn skips_test_targets(&self) -> bool {
        self.skip_test_targets
    }

    /// Report only these kinds (called twice: the union).
    pub fn kinds(mut self, kinds: impl IntoIterator<Item = Kind>) -> Self {
        self.kinds.get_or_insert_with(Vec::new).extend(kinds);
        self
    }

    /// Whether findings of `kind` are reported.
    pub fn wants(&self, kind: Kind) -> bool {
        self.kinds
            .as_ref()
            .is_none_or(|kinds| kinds.contains(&kind))
    }

    fn excluded(&self, relative: &str) -> bool {
        self.excludes
            .iter()
            .any(|exclude| exclude.matches(relative))
    }
}

/// Scans every `.rs` file under `roots` (directories, or files named directly).
///
/// Under a directory, entries named `target`, hidden entries (`.git/`, `.cargo/`, editors'
/// `.#file.rs`), symbolic links and whatever `options` excludes are skipped. A file named
/// directly as a root is scanned whatever its name, under the path as given.
///
/// Findings are named relative to their root (prefixed by the root as given when there are
/// several roots, so that they stay apart), sorted by path, line and column, and deduplicated.
///
/// ```
/// use tenant_audit::{Options, inventory};
///
/// // This crate's own sources name the patterns in strings and docs only: it mints nothing.
/// let found = inventory(&[concat!(env!("CARGO_MANIFEST_DIR"), "/src")], &Options::new());
/// assert_eq!(found.errors, []);
/// assert_eq!(found.findings, []);
/// ```
pub fn inventory<P: AsRef<Path>>(roots: &[P], options: &Options) -> Inventory {
    let mut found = Inventory::default();
    let mut trees = Vec::new();
    for root in roots {
        let root = root.as_ref();
        let shown = display_path(root);
        let prefix = match shown.as_str() {
            _ if roots.len() == 1 => String::new(),
            "" | "." => String::new(),
            other => format!("{other}/"),
        };
        let mut files = Vec::new();
        match fs::metadata(root) {
            Ok(meta) if meta.is_dir() => {
                collect(root, "", options, &mut files, &mut found.errors, &prefix)
            }
            Ok(_) => files.push((root.to_path_buf(), shown)),
            Err(error) => found.errors.push(FileError {
                path: shown,
                position: None,
                message: error.to_string(),
            }),
        }
        trees.push(files);
    }
    // An alias made in one file (`pub use tenant::TenantCtx as Ctx;` in `lib.rs`) is used in
    // others (`crate::Ctx::trusted`), and so is a re-export (`pub use sqlx::query;` in `db.rs`,
    // then `db::query(..)`): every file's aliases and re-exports count everywhere.
    let mut shared = Shared::default();
    for (file, name) in trees.iter().flatten() {
        if let Ok(source) = read_source(file) {
            let module = module_of_file(name);
            shared
                .extend(in_a_thread(|| crate::scan::shared(&source, &module)).unwrap_or_default());
        }
    }
    for files in trees {
        let mut test_files = Vec::new();
        for (file, name) in files {
            test_files.extend(scan_file(&file, name, options, &shared, &mut found));
        }
        found.findings.retain(|finding| {
            !test_files
                .iter()
                .any(|test| finding.path == test.file || finding.path.starts_with(&test.dir))
        });
    }
    found.findings.sort();
    found.findings.dedup();
    found.errors.sort();
    found.errors.dedup();
    found
}

/// The file's text, or why there is none.
fn read_source(file: &Path) -> Result<String, String> {
    match fs::read(file).map(String::from_utf8) {
        Ok(Ok(source)) => Ok(source),
        Ok(Err(_)) => Err("not UTF-8, so not Rust source".to_owned()),
        Err(error) => Err(error.to_string()),
    }
}

/// proc-macro2 keeps every text it lexes in a thread-local source map for the thread's
/// lifetime; a thread per file keeps a large tree from growing it without bound.
fn in_a_thread<T: Send>(work: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| {
        scope
            .spawn(work)
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// A root as given, with `/` separators, without a leading `./` or a trailing `/`.
fn display_path(path: &Path) -> String {
    let mut shown = path
        .to_string_lossy()
        .replace(std::path::MAIN_SEPARATOR, "/");
    while let Some(rest) = shown.strip_prefix("./") {
        shown = rest.to_owned();
    }
    while shown.len() > 1 && shown.ends_with('/') {
        shown.pop();
    }
    if shown.is_empty() {
        ".".to_owned()
    } else {
        shown
    }
}

/// The `.rs` files under `dir` (`relative` to the root), as (path on disk, path shown).
fn collect(
    dir: &Path,
    relative: &str,
    options: &Options,
    files: &mut Vec<(PathBuf, String)>,
    errors: &mut Vec<FileError>,
    prefix: &str,
) {
    let shown_dir = |relative: &str| {
        if relative.is_empty() {
            prefix.trim_end_matches('/').to_owned()
        } else {
            format!("{prefix}{relative}")
        }
    };
    let entries = match fs::read_dir(dir).and_then(|entries| entries.collect::<Result<Vec<_>, _>>())
    {
        Ok(entries) => entries,
        Err(error) => {
            let path = shown_dir(relative);
            errors.push(FileError {
                path: if path.is_empty() {
                    ".".to_owned()
                } else {
                    path
                },
                position: None,
                message: error.to_string(),
            });
            return;
        }
    };
    let mut entries: Vec<_> = entries
        .into_iter()
        .map(|entry| (entry.file_name(), entry))
        .collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, entry) in entries {
        let name = name.to_string_lossy();
        if name.starts_with('.') {
            continue;
        }
        let child = if relative.is_empty() {
            name.to_string()
        } else {
            format!("{relative}/{name}")
        };
        if options.excluded(&child) {
            continue;
        }
        // `file_type` does not follow symbolic links: a link is neither, and is skipped.
        let Ok(file_type) = entry.file_type() else {
            continue;
        };
        if file_type.is_dir() {
            let test_target = options.skip_test_targets
                && (name == "tests" || name == "benches")
                && dir.join("Cargo.toml").is_file();
            if name != "target" && !test_target {
                collect(&entry.path(), &child, options, files, errors, prefix);
            }
        } else if file_type.is_file() && name.ends_with(".rs") {
            files.push((entry.path(), format!("{prefix}{child}")));
        }
    }
}

/// Where the file of a `#[cfg(test)] mod NAME;` declared in `parent` lives: `NAME.rs`, or
/// `NAME/mod.rs` and the modules under it (`dir`), beside a `lib.rs`/`main.rs`/`mod.rs` and in a
/// folder named after any other file.
struct TestFiles {
    file: String,
    dir: String,
}

impl TestFiles {
    fn of(parent: &str, module: &str) -> Self {
        let (folder, file) = parent.rsplit_once('/').unwrap_or(("", parent));
        let stem = file.strip_suffix(".rs").unwrap_or(file);
        let base = match (folder, stem) {
            (folder, "lib" | "main" | "mod") => folder.to_owned(),
            ("", stem) => stem.to_owned(),
            (folder, stem) => format!("{folder}/{stem}"),
        };
        let base = if base.is_empty() { base } else { base + "/" };
        TestFiles {
            file: format!("{base}{module}.rs"),
            dir: format!("{base}{module}/"),
        }
    }
}

/// Scans one file into `found`; returns where the test modules it declares live.
fn scan_file(
    file: &Path,
    name: String,
    options: &Options,
    shared: &Shared,
    found: &mut Inventory,
) -> Vec<TestFiles> {
    let source = match read_source(file) {
        Ok(source) => source,
        Err(message) => {
            found.errors.push(FileError {
                path: name,
                position: None,
                message,
            });
            return Vec::new();
        }
    };
    let module = module_of_file(&name);
    let scanned = in_a_thread(|| crate::scan::scan(&source, PATTERNS, &module, shared));
    match scanned {
        Ok(scanned) => {
            found.findings.extend(
                scanned
                    .sites
                    .into_iter()
                    .filter(|site| options.wants(site.kind))
                    .map(|site: Site| Finding {
                        path: name.clone(),
                        line: site.line,
                        column: site.column,
                        kind: site.kind,
                        detail: site.detail,
                    }),
            );
            scanned
                .test_modules
                .iter()
                .map(|module| TestFiles::of(&name, module))
                .collect()
        }
        Err(failure) => {
            found.errors.push(FileError {
                path: name,
                position: Some((failure.line, failure.column)),
                message: format!("does not lex: {}", failure.message),
            });
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclude_patterns() {
        let exclude = |pattern: &str| pattern.parse::<Exclude>().unwrap();
        assert!(exclude("tests/").matches("a/b/tests"));
        assert!(exclude("./tests").matches("tests"));
        assert!(!exclude("./tests").matches("a/tests"));
        assert!(exclude("/benches").matches("benches"));
        assert!(exclude("*/tests").matches("tenant-core/tests"));
        assert!(!exclude("*/tests").matches("examples/temporal/tests"));
        assert!(exclude("*/tests/*").matches("tenant-core/tests/isolation.rs"));
        assert!(exclude("**/tests").matches("tests"));
        assert!(exclude("**/tests").matches("examples/temporal/tests"));
        assert!(exclude("test-*").matches("test-support"));
        assert!(!exclude("test-*").matches("tests"));
        for bad in ["", "/", "..", "a/../b", "./"] {
            assert!(bad.parse::<Exclude>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn test_module_files() {
        let of = |parent, module| {
            let files = TestFiles::of(parent, module);
            (files.file, files.dir)
        };
        assert_eq!(
            of("a/src/lib.rs", "tests"),
            ("a/src/tests.rs".into(), "a/src/tests/".into())
        );
        assert_eq!(
            of("a/src/x/mod.rs", "t"),
            ("a/src/x/t.rs".into(), "a/src/x/t/".into())
        );
        assert_eq!(
            of("a/src/scan.rs", "tests"),
            ("a/src/scan/tests.rs".into(), "a/src/scan/tests/".into())
        );
        assert_eq!(of("lib.rs", "tests"), ("tests.rs".into(), "tests/".into()));
        assert_eq!(
            of("scan.rs", "tests"),
            ("scan/tests.rs".into(), "scan/tests/".into())
        );
    }

    #[test]
    fn a_test_module_file_is_not_in_the_inventory() {
        let root = std::env::temp_dir().join(format!("tenant-audit-walk-{}", std::process::id()));
        let src = root.join("src");
        fs::create_dir_all(src.join("scan")).unwrap();
        let mint = "fn f() { TenantCtx::trusted(a, b, c) }\n";
        fs::write(src.join("lib.rs"), "mod scan;\n").unwrap();
        fs::write(
            src.join("scan.rs"),
            format!("{mint}#[cfg(test)]\nmod tests;\n"),
        )
        .unwrap();
        fs::write(src.join("scan/tests.rs"), mint).unwrap();
        let found = inventory(&[&root], &Options::new());
        fs::remove_dir_all(&root).unwrap();
        let paths: Vec<_> = found.findings.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["src/scan.rs"]);
    }

    #[test]
    fn shown_roots() {
        assert_eq!(display_path(Path::new("./")), ".");
        assert_eq!(display_path(Path::new("./tenant-core/")), "tenant-core");
        assert_eq!(display_path(Path::new("/")), "/");
        assert_eq!(display_path(Path::new(".")), ".");
    }
}
