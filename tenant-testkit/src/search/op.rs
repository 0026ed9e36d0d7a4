//! The op vocabulary: what an op is ([`Op`], its [`Kind`]), what it returned ([`Outcome`]; an
//! error by its class, [`ErrKind`]), what the model expects of it ([`Expect`]), and what counts
//! as another tenant's value ([`Check`]). Every other part of the search speaks it; it depends
//! on none of them.

use std::any::Any;
use std::fmt::{self, Debug};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tenant::TenantId;
use tenant::sqlx::Error;

use crate::value::tag;

/// A boxed, sendable future: what [`LeakSearch::query`](crate::LeakSearch::query) operations
/// and [`Database`](crate::Database) setups return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A repository error by the class a model predicts: what a search of your own compares with
/// its model's prediction, and counts (see [`class`](Self::class)). Every error a model cannot
/// predict is [`Other`](Self::Other), so it is always a difference.
///
/// ```
/// use tenant::sqlx::Error;
/// use tenant_testkit::ErrKind;
///
/// let kind = ErrKind::of(&Error::EmptyPatch);
/// assert_eq!(kind, ErrKind::EmptyPatch);
/// assert_eq!(kind.class(), "error_empty_patch");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrKind {
    /// A key or `#[unique]` value the tenant already has ([`Error::Conflict`]).
    Conflict,
    /// A `#[belongs_to]` parent the tenant does not have, or a parent with children
    /// ([`Error::ForeignKey`]).
    ForeignKey,
    /// A patch that sets nothing ([`Error::EmptyPatch`]).
    EmptyPatch,
    /// A page cursor refused: another tenant's, another order's, or forged ([`Error::Cursor`]).
    Cursor,
    /// PostgreSQL's `undefined_table` (`42P01`): with a schema per tenant, a table named outside
    /// any tenant's schema is not found (never some shared table of that name).
    NoTable,
    /// The tenant is not placed where the context says ([`Error::Moved`]).
    Moved,
    /// The tenant is fenced for a move ([`Error::Fenced`]).
    Fenced,
    /// Anything else, with its message: never predicted, so always a difference.
    Other(String),
}

impl ErrKind {
    /// The class of `error`.
    pub fn of(error: &Error) -> Self {
        match error {
            Error::Conflict { .. } => ErrKind::Conflict,
            Error::ForeignKey { .. } => ErrKind::ForeignKey,
            Error::EmptyPatch => ErrKind::EmptyPatch,
            Error::Cursor(_) => ErrKind::Cursor,
            Error::Moved { .. } => ErrKind::Moved,
            Error::Fenced { .. } => ErrKind::Fenced,
            Error::Database(sqlx::Error::Database(db)) if db.code().as_deref() == Some("42P01") => {
                ErrKind::NoTable
            }
            other => ErrKind::Other(other.to_string()),
        }
    }

    /// Its name in a search's counts of expected outcomes ([`Counts::op`](crate::Counts::op)):
    /// `error_conflict`, `error_foreign_key`, `error_empty_patch`, `error_cursor`,
    /// `error_no_table`, `error_moved`, `error_fenced` or `error_other`.
    pub fn class(&self) -> &'static str {
        match self {
            ErrKind::Conflict => "error_conflict",
            ErrKind::ForeignKey => "error_foreign_key",
            ErrKind::EmptyPatch => "error_empty_patch",
            ErrKind::Cursor => "error_cursor",
            ErrKind::NoTable => "error_no_table",
            ErrKind::Moved => "error_moved",
            ErrKind::Fenced => "error_fenced",
            ErrKind::Other(_) => "error_other",
        }
    }
}

/// What an op returned, rows as their `Debug` text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Outcome {
    Row(Option<String>),
    Rows(Vec<String>),
    Count(u64),
    Page { rows: usize, more: bool },
    Text(String),
    Err(ErrKind),
}

/// What the model expects; some ops allow more than one outcome (a unique value the model does
/// not track, a page after a cursor).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Expect {
    Exactly(Outcome),
    /// A row was returned (its values filled by the database, which the model cannot know).
    AnyRow,
    /// As many rows as the model has (some of whose values the model cannot know).
    RowCount(usize),
    /// A page of at most this many rows.
    PageUpTo(usize),
    /// Any successful result (a checked query's).
    AnyOk,
}

/// A page op's cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum After {
    Start,
    Own,
    /// A cursor minted for this sibling tenant (one the same task runs).
    Foreign(usize),
}

pub(super) type AnyArc = Arc<dyn Any + Send + Sync>;

#[derive(Clone)]
pub(super) enum Kind {
    Insert {
        entity: usize,
        key: AnyArc,
        key_text: String,
        new: AnyArc,
        parents: Vec<(usize, String)>,
        text: String,
    },
    Get {
        entity: usize,
        key: AnyArc,
        key_text: String,
    },
    Update {
        entity: usize,
        key: AnyArc,
        key_text: String,
        patch: AnyArc,
        parents: Vec<(usize, String)>,
        text: String,
    },
    Delete {
        entity: usize,
        key: AnyArc,
        key_text: String,
    },
    List {
        entity: usize,
    },
    Count {
        entity: usize,
    },
    Page {
        entity: usize,
        limit: u32,
        after: After,
    },
    Query {
        index: usize,
    },
}

impl Kind {
    pub(super) fn name(&self) -> &'static str {
        match self {
            Kind::Insert { .. } => "insert",
            Kind::Get { .. } => "get",
            Kind::Update { .. } => "update",
            Kind::Delete { .. } => "delete",
            Kind::List { .. } => "list",
            Kind::Count { .. } => "count",
            Kind::Page { .. } => "page",
            Kind::Query { .. } => "query",
        }
    }
}

/// One operation of a generated program: a tenant, what it does, and whether it names
/// something of another tenant. Its `Debug` text is what a failure report shows.
#[derive(Clone)]
pub struct Op {
    pub(super) tenant: usize,
    pub(super) in_tx: bool,
    pub(super) cross: bool,
    pub(super) kind: Kind,
    /// The entity's table or the query's name, for the report.
    pub(super) target: &'static str,
}

impl Op {
    /// The index of the op's tenant among the database's test tenants.
    pub fn tenant(&self) -> usize {
        self.tenant
    }
}

impl Debug for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tx = if self.in_tx { " in tx" } else { "" };
        let cross = if self.cross { " (cross-tenant)" } else { "" };
        write!(
            f,
            "tenant #{}{tx}: {} {}",
            self.tenant,
            self.kind.name(),
            self.target
        )?;
        match &self.kind {
            Kind::Insert { text, .. } => write!(f, " {text}")?,
            Kind::Get { key_text, .. } | Kind::Delete { key_text, .. } => {
                write!(f, " key {key_text}")?
            }
            Kind::Update { key_text, text, .. } => write!(f, " key {key_text} {text}")?,
            Kind::Page { limit, after, .. } => write!(f, " limit {limit} after {after:?}")?,
            Kind::List { .. } | Kind::Count { .. } | Kind::Query { .. } => {}
        }
        write!(f, "{cross}")
    }
}

/// Counts the values of other tenants that reach a caller.
pub(super) struct Check {
    pub(super) tenant: TenantId,
    pub(super) index: usize,
    pub(super) tenants: usize,
    pub(super) leaks: u64,
}

impl Check {
    /// `text` (a row's or a result's `Debug`) carries another tenant's tag.
    pub(super) fn text(&mut self, text: &str) {
        if (0..self.tenants).any(|t| t != self.index && text.contains(&tag(t))) {
            self.leaks += 1;
        }
    }

    /// `row` (of `tenant`) is another tenant's, or carries another tenant's tag; its `Debug`
    /// text is returned, for the outcome.
    pub(super) fn row(&mut self, tenant: &TenantId, row: &impl Debug) -> String {
        let text = format!("{row:?}");
        if tenant != &self.tenant {
            self.leaks += 1;
        } else {
            self.text(&text);
        }
        text
    }
}

pub(super) type CursorBox = Arc<dyn Any + Send + Sync>;

/// The registered entity an op of this kind acts on; a checked query has none.
pub(super) fn entity_of(kind: &Kind) -> usize {
    match kind {
        Kind::Insert { entity, .. }
        | Kind::Get { entity, .. }
        | Kind::Update { entity, .. }
        | Kind::Delete { entity, .. }
        | Kind::List { entity }
        | Kind::Count { entity }
        | Kind::Page { entity, .. } => *entity,
        Kind::Query { .. } => unreachable!("queries have no entity"),
    }
}

/// The class an outcome is counted under: shows the search reaches errors and non-empty
/// results, not only empty reads.
pub(super) fn outcome_class(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Err(kind) => kind.class(),
        Outcome::Row(None) | Outcome::Count(0) => "empty",
        Outcome::Rows(rows) if rows.is_empty() => "empty",
        Outcome::Page { rows: 0, .. } => "empty",
        _ => "non_empty",
    }
}
