//! The engine of the `tenant` crate's checked queries (issue 22).
//!
//! [`check`] takes the SQL a user wrote in a checked query macro, with tenant entities named by
//! their Rust path in braces (`{Invoice}`), and returns the statement to run with the tenant
//! restriction injected on every entity reference, or every reason it cannot be made safe.
//!
//! ```
//! use tenant_sqlcheck::{check, Options, Piece};
//!
//! let checked = check("SELECT id FROM {Invoice} WHERE total > $1", &Options { args: 1, shared: &[] })
//!     .expect("a plain select is checked");
//! assert_eq!(checked.entities[0].path, "Invoice");
//! assert!(checked.pieces.iter().any(|p| matches!(p, Piece::Table(0))));
//! ```
//!
//! This crate is a plain library with no proc-macro dependency: the macro front end
//! (`tenant-macros`) calls it at compile time and turns its errors into compile errors.

use std::fmt;
use std::ops::Range;

mod placeholders;
mod render;
mod walk;

use sqlparser::ast::Statement;
use sqlparser::dialect::{PostgreSqlDialect, SQLiteDialect};
use sqlparser::parser::{Parser, ParserError};

/// What the caller knows about the query besides its SQL text.
///
/// ```
/// let shared = vec!["countries".to_owned()];
/// let options = tenant_sqlcheck::Options { args: 2, shared: &shared };
/// assert_eq!(options.args, 2);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Options<'a> {
    /// Number of bound arguments the user passed (`$1..$args`).
    pub args: usize,
    /// Plain table names declared shared for this query (reference data every tenant reads).
    pub shared: &'a [String],
}

/// A statement that passed the check, with the tenant restriction injected.
///
/// ```
/// use tenant_sqlcheck::{check, Options};
///
/// let checked = check("SELECT count(*) FROM {Invoice}", &Options { args: 0, shared: &[] }).unwrap();
/// assert!(checked.returns_rows);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// The statement to run, with the tenant restriction injected.
    pub pieces: Vec<Piece>,
    /// The entities named in `{..}`, deduplicated by path text, in order of first appearance.
    pub entities: Vec<EntityRef>,
    /// Every column name the statement names anywhere (qualified or not, in SELECT, WHERE, ON,
    /// USING, SET targets, INSERT column lists, ON CONFLICT targets, RETURNING, ...), so the
    /// macro can refuse naming any entity's tenant column. Unquoted names as written; quoted
    /// names unquoted. The macro compares ASCII-case-insensitively.
    pub columns: Vec<ColumnRef>,
    /// Whether the statement returns rows (SELECT, or RETURNING).
    pub returns_rows: bool,
}

/// One piece of the statement to run; the runtime concatenates them once per call site.
///
/// ```
/// use tenant_sqlcheck::Piece;
///
/// let pieces = [Piece::Sql("SELECT * FROM ".into()), Piece::Table(0)];
/// let sql: String = pieces.iter().map(|p| match p {
///     Piece::Sql(s) => s.clone(),
///     Piece::Table(_) => "\"invoices\"".into(),
///     Piece::TenantColumn(_) => "\"tenant_id\"".into(),
/// }).collect();
/// assert_eq!(sql, "SELECT * FROM \"invoices\"");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// SQL text, emitted as is (this includes the `$N+1` tenant parameter).
    Sql(String),
    /// The table of `entities[i]`: the runtime writes its table name, double-quoted.
    Table(usize),
    /// The tenant column of `entities[i]`: the runtime writes it, double-quoted.
    TenantColumn(usize),
}

/// An entity named in the SQL as `{Path}`.
///
/// ```
/// use tenant_sqlcheck::{check, Options};
///
/// let sql = "SELECT id FROM {crate::model::Invoice}";
/// let checked = check(sql, &Options { args: 0, shared: &[] }).unwrap();
/// let entity = &checked.entities[0];
/// assert_eq!(entity.path, "crate::model::Invoice");
/// assert_eq!(&sql[entity.span.clone()], "{crate::model::Invoice}");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityRef {
    /// The Rust path between the braces, without whitespace.
    pub path: String,
    /// Byte range of `{Path}` in the SQL (its first occurrence).
    pub span: Range<usize>,
}

/// A column name the statement names.
///
/// ```
/// use tenant_sqlcheck::{check, Options};
///
/// let sql = "SELECT i.total FROM {Invoice} i";
/// let checked = check(sql, &Options { args: 0, shared: &[] }).unwrap();
/// assert!(checked.columns.iter().any(|c| c.name == "total" && &sql[c.span.clone()] == "total"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnRef {
    /// The name, unquoted.
    pub name: String,
    /// Byte range of the name in the SQL.
    pub span: Range<usize>,
}

/// Why a statement cannot be made safe.
///
/// ```
/// use tenant_sqlcheck::{check, Options};
///
/// let errors = check("SELECT * FROM {Invoice}; SELECT 1", &Options { args: 0, shared: &[] })
///     .unwrap_err();
/// assert!(!errors[0].message.is_empty());
/// assert!(!errors[0].help.is_empty());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// Byte range in `sql` the error is about (the whole string when unknown).
    pub span: Range<usize>,
    /// One line, lower case start, no trailing period (like rustc).
    pub message: String,
    /// The `help:` line: what to write instead.
    pub help: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (help: {})", self.message, self.help)
    }
}

impl std::error::Error for Error {}

/// Checks `sql` and returns the statement to run with the tenant restriction injected.
///
/// Every error found is returned, not only the first (the macro reports them all in one
/// compile).
///
/// ```
/// use tenant_sqlcheck::{check, Options};
///
/// let ok = check("UPDATE {Invoice} SET total = $1 WHERE id = $2", &Options { args: 2, shared: &[] });
/// assert!(ok.is_ok());
/// let refused = check("DROP TABLE invoices", &Options { args: 0, shared: &[] }).unwrap_err();
/// assert!(refused[0].message.contains("not checked"));
/// ```
pub fn check(sql: &str, options: &Options<'_>) -> Result<Checked, Vec<Error>> {
    let split = placeholders::split(sql)?;
    let mut statement = parse(&split)?;
    let walked = walk::Walker::new(options, &split.map).statement(&mut statement);
    if !walked.errors.is_empty() {
        return Err(walked.errors);
    }
    let pieces = render::pieces(&statement.to_string(), walked.markers, sql.len())?;
    Ok(Checked {
        pieces,
        entities: split.entities,
        columns: walked.columns,
        returns_rows: walked.returns_rows,
    })
}

/// Exactly one statement, read by the PostgreSQL parser or else by the SQLite one.
fn parse(split: &placeholders::Split) -> Result<Statement, Vec<Error>> {
    let parsed = Parser::parse_sql(&PostgreSqlDialect {}, &split.text)
        .or_else(|pg| Parser::parse_sql(&SQLiteDialect {}, &split.text).map_err(|_| pg));
    let mut statements = match parsed {
        Ok(statements) => statements,
        Err(e) => return Err(vec![parse_error(split, &e)]),
    };
    match statements.len() {
        1 => Ok(statements.remove(0)),
        0 => Err(vec![Error {
            span: split.map.sql_range(0..split.text.len()),
            message: "the SQL holds no statement".into(),
            help: "write one SELECT, INSERT, UPDATE or DELETE".into(),
        }]),
        n => Err(vec![Error {
            span: split.map.sql_range(0..split.text.len()),
            message: format!("the SQL holds {n} statements; a checked query runs exactly one"),
            help: "split it into one checked query per statement".into(),
        }]),
    }
}

/// The parser's message, its position turned into the user's byte offset.
fn parse_error(split: &placeholders::Split, error: &ParserError) -> Error {
    let text = match error {
        ParserError::TokenizerError(m) | ParserError::ParserError(m) => m.clone(),
        ParserError::RecursionLimitExceeded => "the statement nests too deeply".to_owned(),
    };
    // sqlparser ends its messages with " at Line: L, Column: C" (of the text it read, where
    // each placeholder is a longer identifier).
    let (message, span) = match text.rsplit_once(" at Line: ") {
        Some((message, at)) => {
            let position = at.split_once(", Column: ").and_then(|(line, column)| {
                Some((line.trim().parse().ok()?, column.trim().parse().ok()?))
            });
            let start = position.and_then(|(l, c)| split.map.position(l, c));
            let whole = split.map.sql_range(0..split.text.len());
            (
                message.to_owned(),
                start.map_or(whole.clone(), |s| s..whole.end),
            )
        }
        None => (text.clone(), split.map.sql_range(0..split.text.len())),
    };
    let mut message = message;
    if let Some(first) = message.get(..1) {
        message = first.to_lowercase() + &message[1..];
    }
    Error {
        span,
        message: format!(
            "the SQL cannot be parsed: {}",
            message.trim_end_matches('.')
        ),
        help: "write one statement that PostgreSQL and SQLite both read".into(),
    }
}
