//! `cargo tenant-audit [options] [<path>...]`: `tenant-audit` as a cargo subcommand
//! (`cargo install --path tenant-audit`), on the current directory unless paths are given.

use std::process::ExitCode;

fn main() -> ExitCode {
    // Cargo runs `cargo-tenant-audit tenant-audit <args>`; run directly, there is no such word.
    let mut args = std::env::args().skip(1).peekable();
    if args.peek().map(String::as_str) == Some("tenant-audit") {
        args.next();
    }
    tenant_audit::cli::run(args, Some("."))
}
