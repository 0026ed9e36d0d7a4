//! The command line of `tenant-audit` and `cargo tenant-audit`: one parser, one run.

use std::io::{self, Write};
use std::process::ExitCode;

use crate::{Kind, Options, compare, inventory, sarif};

const USAGE: &str = "\
usage: tenant-audit [options] <path>...
       cargo tenant-audit [options] [<path>...]     (the current directory by default)

options: [--skip-test-targets] [--exclude <dir>]... [--kinds <kind>[,<kind>]...]
         [--format text|sarif] [--check <file>]

Lists every place under <path>... that mints tenant authority, one line each:
    path:line: kind: reason-or-snippet
sorted by path then line, paths relative to <path> (prefixed by it when several are given).

  --skip-test-targets
                    skip the `tests/` and `benches/` directories beside a Cargo.toml (a
                    package's integration tests and benchmarks); other `tests` are scanned
  --exclude <dir>   skip it: a name at any depth (`tests`) or a path from the root
                    (`examples/*/tests`); `*` within a segment, `**` for any segments.
                    Repeatable. target/, .git/ and hidden entries are always skipped.
  --kinds <kinds>   report only these, comma-separated: trusted, system, provision,
                    activity, verify, registry, sign, sql, unfenced
  --format <f>      `text` (the default): the lines above; `sarif`: a SARIF 2.1.0 log on
                    stdout for code-scanning tools (GitHub's upload-sarif, say)
  --check <file>    compare with <file> (an inventory this command wrote, checked in):
                    sites the file lacks are printed and make the exit status 1; line
                    numbers are ignored, so code that moves is not new. Sites the code no
                    longer has are reported, without failing (regenerate the file)
  -h, --help        this text

Kind `sql` is SQL the types do not check for the tenant: sqlx's query functions and macros by
any path (aliases, `use sqlx::query;`, globs, re-exports), `raw_sql`, `QueryBuilder::new`, and a
plain string run by an executor (`pool.execute(\"..\")`). Use the checked macros
(`tenant::sqlx::query!`, `query_as!`, `query_scalar!`, not listed) for every query on tenant
tables; keep plain sqlx for DDL, migrations and admin tooling, where this list shows it.

Exit status: 0 when every file was scanned, 1 with --check when the code has a site the file
lacks, 2 when a file could not be read or lexed (reported on stderr; the other files' findings
are still printed) or the arguments are wrong.";

/// What to print, and what to compare with.
#[derive(Debug, Default)]
struct Output {
    sarif: bool,
    check: Option<String>,
}

/// Runs the command on `args` (without the program name). `default_root`: the path used when
/// none is given (`cargo tenant-audit` scans the current directory), `None` to require one.
pub fn run(args: impl Iterator<Item = String>, default_root: Option<&str>) -> ExitCode {
    let (mut roots, options, output) = match parse_args(args) {
        Ok(Some(parsed)) => parsed,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("tenant-audit: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if roots.is_empty() {
        match default_root {
            Some(root) => roots.push(root.to_owned()),
            None => {
                eprintln!(
                    "tenant-audit: no path given (use `.` for the current directory)\n\n{USAGE}"
                );
                return ExitCode::from(2);
            }
        }
    }
    let found = inventory(&roots, &options);
    let comparison = match &output.check {
        None => None,
        Some(file) => match std::fs::read_to_string(file) {
            Ok(text) => Some(compare(&found.findings, &text)),
            Err(error) => {
                eprintln!("tenant-audit: --check {file}: {error}");
                return ExitCode::from(2);
            }
        },
    };

    let mut out = io::BufWriter::new(io::stdout().lock());
    let written = if output.sarif {
        // With --check, the log holds the new sites only: what a pull request should show.
        let shown = match &comparison {
            Some(comparison) => comparison.new.as_slice(),
            None => found.findings.as_slice(),
        };
        serde_json::to_writer_pretty(&mut out, &sarif(shown))
            .map_err(io::Error::from)
            .and_then(|()| writeln!(out))
    } else {
        match &comparison {
            Some(comparison) => comparison
                .new
                .iter()
                .try_for_each(|finding| writeln!(out, "new: {finding}")),
            None => found
                .findings
                .iter()
                .try_for_each(|finding| writeln!(out, "{finding}")),
        }
    }
    .and_then(|()| out.flush());
    if let Err(error) = written {
        // A reader that stopped early (`| head`) is not an error of ours.
        if error.kind() != io::ErrorKind::BrokenPipe {
            eprintln!("tenant-audit: writing the inventory: {error}");
            return ExitCode::from(2);
        }
    }
    for error in &found.errors {
        eprintln!("tenant-audit: {error}");
    }
    if let (Some(comparison), Some(file)) = (&comparison, &output.check) {
        for line in &comparison.gone {
            eprintln!("tenant-audit: no longer in the code (regenerate {file}): {line}");
        }
        if comparison.has_new() {
            eprintln!(
                "tenant-audit: {} site(s) not in {file} (listed on stdout): review them, then \
                 regenerate the file",
                comparison.new.len()
            );
        }
    }
    if !found.errors.is_empty() {
        ExitCode::from(2)
    } else if comparison.as_ref().is_some_and(|c| c.has_new()) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// The roots, options and output, or `None` for `--help`.
fn parse_args(
    args: impl Iterator<Item = String>,
) -> Result<Option<(Vec<String>, Options, Output)>, String> {
    let mut roots = Vec::new();
    let mut options = Options::new();
    let mut output = Output::default();
    let mut args = args.peekable();
    let mut only_paths = false;
    while let Some(arg) = args.next() {
        if only_paths || !arg.starts_with('-') || arg == "-" {
            roots.push(arg);
            continue;
        }
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) => (flag.to_owned(), Some(value.to_owned())),
            None => (arg.clone(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--" => only_paths = true,
            "-h" | "--help" => return Ok(None),
            "--skip-test-targets" if inline.is_none() => options = options.skip_test_targets(),
            "--exclude" => {
                let pattern = value()?;
                options = options.exclude(pattern.parse().map_err(|error| format!("{error}"))?);
            }
            "--kinds" => {
                let list = value()?;
                let kinds = list
                    .split(',')
                    .map(|name| name.trim().parse::<Kind>())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|error| format!("--kinds: {error}"))?;
                options = options.kinds(kinds);
            }
            "--format" => {
                output.sarif = match value()?.as_str() {
                    "text" => false,
                    "sarif" => true,
                    other => {
                        return Err(format!(
                            "--format: unknown format `{other}`; expected `text` or `sarif`"
                        ));
                    }
                }
            }
            "--check" => output.check = Some(value()?),
            _ => {
                return Err(format!(
                    "unknown option `{arg}`; expected one of: --skip-test-targets, --exclude, --kinds, --format, --check, --help, --"
                ));
            }
        }
    }
    Ok(Some((roots, options, output)))
}
