//! `tenant-audit [--skip-test-targets] [--exclude <dir>]... [--kinds <kind>,..] <path>...`:
//! every place under the paths that mints tenant authority, one
//! `path:line: kind: reason-or-snippet` line each. See the library's documentation.

use std::io::{self, Write};
use std::process::ExitCode;

use tenant_audit::{Kind, Options, inventory};

const USAGE: &str = "\
usage: tenant-audit [--skip-test-targets] [--exclude <dir>]... [--kinds <kind>[,<kind>]...] <path>...

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
                    activity, verify, registry, sign, sql
  -h, --help        this text

Kind `sql` is SQL the types do not check for the tenant: sqlx's query functions and macros by
any path (aliases, `use sqlx::query;`, globs, re-exports), `raw_sql`, `QueryBuilder::new`, and a
plain string run by an executor (`pool.execute(\"..\")`). Use the checked macros
(`tenant::sqlx::query!`, `query_as!`, `query_scalar!`, not listed) for every query on tenant
tables; keep plain sqlx for DDL, migrations and admin tooling, where this list shows it.

Exit status: 0 when every file was scanned, 2 when one could not be read or lexed (reported
on stderr; the other files' findings are still printed) or the arguments are wrong.";

fn main() -> ExitCode {
    let (roots, options) = match parse_args(std::env::args().skip(1)) {
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
    let found = inventory(&roots, &options);

    let mut out = io::BufWriter::new(io::stdout().lock());
    let written = found
        .findings
        .iter()
        .try_for_each(|finding| writeln!(out, "{finding}"))
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
    if found.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    }
}

/// The roots and options, or `None` for `--help`.
fn parse_args(
    args: impl Iterator<Item = String>,
) -> Result<Option<(Vec<String>, Options)>, String> {
    let mut roots = Vec::new();
    let mut options = Options::new();
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
            _ => {
                return Err(format!(
                    "unknown option `{arg}`; expected one of: --skip-test-targets, --exclude, --kinds, --help, --"
                ));
            }
        }
    }
    if roots.is_empty() {
        return Err("no path given (use `.` for the current directory)".to_owned());
    }
    Ok(Some((roots, options)))
}
