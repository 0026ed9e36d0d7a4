//! The engine of the `tenant` crate's checked queries (issue 22): raw SQL that cannot forget
//! the tenant.
//!
//! [`check`] takes the SQL a user wrote in a checked query macro, with every tenant entity named
//! by its Rust path in braces (`{Invoice}`), and returns the statement to run with the tenant
//! restriction injected on every entity reference, or every reason it cannot be made safe. The
//! macro front end (`tenant-macros`) calls it at compile time and turns its errors into compile
//! errors; this crate is a plain library that depends on `sqlparser` alone.
//!
//! ```
//! use tenant_sqlcheck::{check, Options, Piece};
//!
//! let sql = "SELECT c.name, count(i.id) FROM {Customer} c LEFT JOIN {Invoice} i ON i.customer_id = c.id GROUP BY c.name";
//! let checked = check(sql, &Options { args: 0, shared: &[] }).expect("checked");
//! // What the runtime writes, with the entities' tables and tenant columns double-quoted:
//! let rendered: String = checked.pieces.iter().map(|piece| match piece {
//!     Piece::Sql(sql) => sql.clone(),
//!     Piece::Table(i) => ["\"customers\"", "\"invoices\""][*i].to_owned(),
//!     Piece::TenantColumn(_) => "\"tenant_id\"".to_owned(),
//! }).collect();
//! assert_eq!(
//!     rendered,
//!     "SELECT c.name, count(i.id) FROM \"customers\" c LEFT JOIN \"invoices\" i \
//!      ON (i.customer_id = c.id) AND i.\"tenant_id\" = $1 WHERE c.\"tenant_id\" = $1 GROUP BY c.name",
//! );
//! ```
//!
//! # What is injected where
//!
//! The tenant is bound as `$N+1` (N: the number of arguments). Every entity reference gets
//! `alias.<tenant column> = $N+1`, an entity without an alias getting a private one
//! (`__tenant_a0__`), placed where it filters that relation's rows and nothing else:
//!
//! | the entity is | its restriction goes |
//! |---|---|
//! | a FROM item, or joined by JOIN / INNER JOIN / CROSS JOIN / NATURAL JOIN | ANDed to the WHERE, outside the user's condition: `WHERE (user) AND a.t = $T` |
//! | the right side of a LEFT JOIN | ANDed to that join's ON: `ON (user) AND b.t = $T` |
//! | left of a RIGHT JOIN (and not already placed in an ON) | ANDed to the RIGHT JOIN's ON, its right side to the WHERE |
//! | under a FULL JOIN, an outer join with USING or NATURAL where an ON is needed, a parenthesised join with an alias, any FROM that has a LATERAL item | replaced by `(SELECT * FROM <table> WHERE <tenant column> = $T) AS alias`, always exact |
//! | the target of UPDATE or DELETE | ANDed to its WHERE; UPDATE .. FROM's relations as FROM items |
//! | the target of INSERT | its column list gets the tenant column, each VALUES row or each SELECT branch's projection gets `$T`; `ON CONFLICT (cols)` becomes `ON CONFLICT (<tenant column>, cols)` (the conflict is looked up within the tenant), `DO UPDATE .. WHERE` gets the restriction too |
//!
//! Every SELECT is restricted on its own: subqueries in SELECT, WHERE, FROM, HAVING, ON,
//! ORDER BY, EXISTS / IN / ANY, each CTE (both branches of a recursive one), each branch of
//! UNION / INTERSECT / EXCEPT. `DELETE .. USING`, which SQLite lacks, is written
//! `DELETE FROM t AS a WHERE EXISTS (SELECT 1 FROM <using> WHERE <user condition>) AND a.t = $T`,
//! on both backends (its RETURNING can name the target's columns only). CTEs are renamed privately (`__tenant_w0__`, their references aliased by
//! the user's name), so a CTE can never take the place of an entity's table, whose name is
//! only known at run time.
//!
//! # What is refused
//!
//! Each as an [`Error`] with the bytes it is about and a `help:` line, all of them at once:
//! - a relation that is not an entity placeholder, a CTE in scope, a declared shared table or a
//!   subquery: plain names (`invoices`), quoted or case-changed ones (`"INVOICES"`),
//!   schema-qualified ones (`public.invoices`, `pg_catalog.pg_class`), views, table functions;
//!   a shared table matches an unqualified name exactly, case-insensitively unless quoted, and
//!   is read-only (never the target of INSERT, UPDATE or DELETE);
//! - more or fewer than one statement; anything but SELECT, INSERT, UPDATE, DELETE (DDL, SET,
//!   RESET, COPY, CALL, transaction control, EXPLAIN, PRAGMA, ATTACH, ..); `SELECT .. INTO`;
//!   a data-modifying statement inside WITH; `INSERT OR REPLACE`, `REPLACE INTO`, an INSERT
//!   without its column list, `ON CONFLICT ON CONSTRAINT`;
//! - functions that change session or server state, run SQL given as text, or read files and
//!   large objects: `set_config`, `setval`, `query_to_xml` and the other `*_to_xml*`,
//!   `ts_stat`, every `pg_*` but `pg_typeof`, `lo_*`, `dblink*`, SQLite's `load_extension`,
//!   `readfile`, `writefile`;
//! - placeholders other than `$1..$N` (`?`, `:name`, `$0`, `$N+1` and above), and an argument
//!   never used;
//! - SQL that neither the PostgreSQL nor the SQLite parser reads, or that nests deeper than the
//!   parser's limit;
//! - ambiguity that could make an injected `alias.t = $T` reach another relation: two relations
//!   with the same name in one FROM (aliases compared case-insensitively), an alias or CTE named
//!   by an entity placeholder, an entity placeholder anywhere but a table position (`{Invoice}.id`:
//!   alias the entity), column aliases on an entity (`{Invoice} AS i(a, b)` would rename its
//!   tenant column), a name matching a CTE only when case is ignored, and the reserved prefix
//!   `__tenant_` anywhere in the SQL.
//!
//! Comments and string literals can neither hide nor forge a placeholder: placeholders are
//! found on the tokenizer's tokens, and the statement that runs is rendered from the parsed
//! tree, so a comment never reaches the database.
//!
//! The engine does not know the entities' tenant columns: it reports every column name the
//! statement uses ([`Checked::columns`]) and the macro refuses, at compile time, any that is
//! an entity's tenant column, so the statement can neither write nor compare it. Functions
//! the application defines are called as written: what they read is not checked (row-level
//! security is the layer below).

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
/// assert!(!checked.writes);
/// let locking = check("SELECT id FROM {Invoice} FOR UPDATE", &Options { args: 0, shared: &[] }).unwrap();
/// assert!(locking.writes);
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
    /// Whether the statement writes: an INSERT, UPDATE or DELETE, or a SELECT with a locking
    /// clause (`FOR UPDATE`, `FOR SHARE`, ..) at any level. A SELECT without one only reads
    /// (a data-modifying statement inside WITH is refused), but for the functions it calls:
    /// those the application defines are not looked into.
    pub writes: bool,
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
    // sqlparser recurses once per nesting level and, unoptimised (a proc macro usually is),
    // its frames are large: a statement within the parser's recursion limit can still
    // overflow a 2 MiB stack. The check runs on a thread of its own with room to spare.
    let internal = |what: &str| {
        vec![Error {
            span: 0..sql.len(),
            message: format!("internal error of the SQL checker: {what}"),
            help: "report this statement to the maintainers of `tenant`".into(),
        }]
    };
    std::thread::scope(|scope| {
        match std::thread::Builder::new()
            .stack_size(STACK)
            .spawn_scoped(scope, || check_here(sql, options))
        {
            Ok(handle) => handle
                .join()
                .unwrap_or_else(|_| Err(internal("it panicked"))),
            Err(_) => check_here(sql, options),
        }
    })
}

/// The stack of the checking thread: the deepest statement the parser accepts (its recursion
/// limit is 50 levels) needs less than a tenth of it on a debug build.
const STACK: usize = 64 * 1024 * 1024;

fn check_here(sql: &str, options: &Options<'_>) -> Result<Checked, Vec<Error>> {
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
        writes: walked.writes,
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
