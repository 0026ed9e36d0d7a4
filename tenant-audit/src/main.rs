//! `tenant-audit [options] <path>...`: every place under the paths that mints tenant authority,
//! one `path:line: kind: reason-or-snippet` line each. See the library's documentation.

use std::process::ExitCode;

fn main() -> ExitCode {
    tenant_audit::cli::run(std::env::args().skip(1), None)
}
