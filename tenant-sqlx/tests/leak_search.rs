//! A model-based search for tenant leaks. Random programs of operations drawn
//! from every repository method, checked queries (`query!` and its kin: a join, a LEFT JOIN
//! count, an update by a key often another tenant's), and raw SQL inside tenant-bound
//! transactions run
//! concurrently against a real database, and an in-memory model written here, with none of the
//! crate's code, predicts every result, errors included. Any difference fails the run, and so
//! does any returned row whose tenant is not the caller's (a leak). A failing program is shrunk
//! by delta debugging, each candidate on a fresh database, and the seed and the shortest
//! failing sequence are printed.
//!
//! Four backends: SQLite (a temporary file with several pooled connections), PostgreSQL (a
//! fresh schema, the repositories' own tenant predicates alone), PostgreSQL with row-level
//! security (the application role, every operation inside a `TenantTx`, raw
//! `SELECT * FROM leak_items` seeing only the tenant's rows), and PostgreSQL with a schema per
//! tenant (each tenant's own schema made by `TenantSchema`, every operation inside
//! `TenantTx::begin_in_schema`, so the search path alone decides which rows raw
//! `SELECT * FROM leak_items` sees; the run's schemas are dropped when it ends). The PostgreSQL
//! runs need `DATABASE_URL` and `APP_DATABASE_URL` (`.ci/run` sets them; on CI they are
//! required).
//!
//! And two placements (module `placed`): two SQLite files, or two private PostgreSQL servers
//! (test-support's `PgServer`), behind a `PoolSet`, the tenants spread over both by a registry,
//! every op through the pool set, and tenants moved between them in the middle of the program
//! with the move workflow's steps; the model predicts every step of a move (`Fenced` during
//! the copy, `Moved` for a process whose cache is stale, nothing left at the source) and the
//! rows over both databases at the end.
//!
//! Concurrency without losing exact predictions: `TASKS` tokio tasks on a multi-thread runtime
//! share one pool, and task `k` alone runs the ops of tenants `t % TASKS == k`, in program
//! order, so each tenant's history, and the model's prediction of every result, is the same
//! whatever the interleaving. Cross-tenant attempts use what the generator saw of other tenants
//! (their keys, unique values, groups, labels) and cursors minted for a sibling tenant of the
//! same task. SQLite runs on a temporary file (WAL) with several connections rather than
//! in-memory with one: the bugs sought include state left on a pooled connection (a cached
//! statement, a setting), which one connection cannot show; raw transactions write before they
//! read, so no deferred transaction has to upgrade its lock.
//!
//! The generic machinery (the seeded generator, sizes and seeds from the environment, the
//! partition of tenants over tasks, the counts and the shrinker) is `tenant-testkit`'s, the
//! kit users run over their own entities; what is here is this search's model and operations.
//!
//! Size: `TENANT_LEAK_OPS` ops per backend (default 2,000 for a quick local run; CI runs 6,000,
//! seconds each in a debug build; the two-placement runs take `TENANT_LEAK_PLACED_OPS`,
//! default 2,000, which CI keeps),
//! from `TENANT_LEAK_SEED` (random when unset; always printed). A run prints its counts (ops by
//! kind, expected outcomes by class, cross-tenant attempts, leaks) on stdout.
//!
//! How to rerun (the seed is printed by every run; counts go to stdout):
//!
//! ```sh
//! # DATABASE_URL (and APP_DATABASE_URL for the RLS backend) name the servers, as .ci/run sets them
//! TENANT_LEAK_SEED=42 TENANT_LEAK_OPS=100000 \
//!   cargo test -p tenant-sqlx --all-features --test leak_search --release -- --nocapture
//! ```

#![allow(missing_docs)] // test entities

#[path = "leak_search/placed.rs"]
mod placed;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering as AtomicOrdering};
use std::time::{Duration, Instant};

use futures::TryStreamExt as _;
use tenant::sqlx::{
    CheckedExecutor, Conn, Cursor, Error, Filter, Order, PageRequest, Repo, TenantSchema, TenantTx,
    WriteConn, query, query_as, query_scalar,
};
use tenant::{Plan, ProvisionCtx, TenantCtx, TenantId, tenant_scoped};
use tenant_test_support as support;
use tenant_testkit::{Counts, Rng};

#[tenant_scoped(table = "leak_groups")]
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    pub name: String,
}

#[tenant_scoped(table = "leak_items")]
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    #[unique]
    pub code: String,
    #[index]
    pub label: String,
    pub amount: i64,
    pub note: Option<String>,
    #[belongs_to(Group)]
    pub group_id: i64,
}

// Sizes. Keys, codes and amounts come from small ranges so that keys collide across tenants,
// unique values conflict within one, and orders have ties for the key to break.
const TENANTS: usize = 20;
const TASKS: usize = 8;
const KEYS: i64 = 30;
const CODES: u64 = 24;
/// Groups 1..=3 every tenant has; group `PRIVATE_GROUP + t` only tenant `t` has.
const SHARED_GROUPS: i64 = 3;
const PRIVATE_GROUP: i64 = 100;
const WORDS: [&str; 6] = ["alpha", "beta", "al_pha", "50%off", "gamma", "a\\b"];

fn tenant_name(t: usize) -> String {
    format!("t{t:02}")
}

fn valid_group(t: usize, group: i64) -> bool {
    (1..=SHARED_GROUPS).contains(&group) || group == PRIVATE_GROUP + t as i64
}

// ---------------------------------------------------------------------------------------------
// The model: rows, filters, orders and operations as the test sees them.
// ---------------------------------------------------------------------------------------------

/// A row without its tenant: the model keeps one map per tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Row {
    id: i64,
    code: String,
    label: String,
    amount: i64,
    note: Option<String>,
    group: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Patch {
    code: Option<String>,
    label: Option<String>,
    amount: Option<i64>,
    note: Option<Option<String>>,
    group: Option<i64>,
}

impl Patch {
    fn is_empty(&self) -> bool {
        *self == Patch::default()
    }

    fn apply(&self, row: &mut Row) {
        if let Some(code) = &self.code {
            row.code.clone_from(code);
        }
        if let Some(label) = &self.label {
            row.label.clone_from(label);
        }
        if let Some(amount) = self.amount {
            row.amount = amount;
        }
        if let Some(note) = &self.note {
            row.note.clone_from(note);
        }
        if let Some(group) = self.group {
            row.group = group;
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    fn holds<T: Ord + ?Sized>(self, a: &T, b: &T) -> bool {
        match self {
            Cmp::Eq => a == b,
            Cmp::Ne => a != b,
            Cmp::Lt => a < b,
            Cmp::Le => a <= b,
            Cmp::Gt => a > b,
            Cmp::Ge => a >= b,
        }
    }
}

/// A filter, evaluated with SQL's three-valued logic (`None` is NULL) since `note` is nullable.
#[derive(Debug, Clone, PartialEq, Eq)]
enum F {
    All,
    Id(Cmp, i64),
    Amount(Cmp, i64),
    Code(Cmp, String),
    Label(Cmp, String),
    IdIn(Vec<i64>),
    CodeIn(Vec<String>),
    LabelLike(String),
    LabelStartsWith(String),
    NoteEq(String),
    NoteLike(String),
    NoteIsNull,
    And(Box<F>, Box<F>),
    Or(Box<F>, Box<F>),
    Not(Box<F>),
}

impl F {
    fn eval(&self, row: &Row) -> Option<bool> {
        Some(match self {
            F::All => true,
            F::Id(op, v) => op.holds(&row.id, v),
            F::Amount(op, v) => op.holds(&row.amount, v),
            F::Code(op, v) => op.holds(row.code.as_str(), v.as_str()),
            F::Label(op, v) => op.holds(row.label.as_str(), v.as_str()),
            F::IdIn(values) => values.contains(&row.id),
            F::CodeIn(values) => values.contains(&row.code),
            F::LabelLike(pattern) => like(&row.label, pattern),
            F::LabelStartsWith(prefix) => row.label.starts_with(prefix.as_str()),
            F::NoteEq(v) => row.note.as_ref()? == v,
            F::NoteLike(pattern) => like(row.note.as_ref()?, pattern),
            F::NoteIsNull => row.note.is_none(),
            F::And(a, b) => match (a.eval(row), b.eval(row)) {
                (Some(false), _) | (_, Some(false)) => false,
                (Some(true), Some(true)) => true,
                _ => return None,
            },
            F::Or(a, b) => match (a.eval(row), b.eval(row)) {
                (Some(true), _) | (_, Some(true)) => true,
                (Some(false), Some(false)) => false,
                _ => return None,
            },
            F::Not(a) => !a.eval(row)?,
        })
    }

    fn matches(&self, row: &Row) -> bool {
        self.eval(row) == Some(true)
    }

    fn to_filter(&self) -> Filter<Item> {
        let c = Item::columns();
        let cmp_i64 = |col: tenant::sqlx::Col<Item, i64>, op: Cmp, v: i64| match op {
            Cmp::Eq => col.eq(v),
            Cmp::Ne => col.ne(v),
            Cmp::Lt => col.lt(v),
            Cmp::Le => col.le(v),
            Cmp::Gt => col.gt(v),
            Cmp::Ge => col.ge(v),
        };
        let cmp_text = |col: tenant::sqlx::Col<Item, String>, op: Cmp, v: &str| match op {
            Cmp::Eq => col.eq(v),
            Cmp::Ne => col.ne(v),
            Cmp::Lt => col.lt(v),
            Cmp::Le => col.le(v),
            Cmp::Gt => col.gt(v),
            Cmp::Ge => col.ge(v),
        };
        match self {
            F::All => Filter::all(),
            F::Id(op, v) => cmp_i64(c.id, *op, *v),
            F::Amount(op, v) => cmp_i64(c.amount, *op, *v),
            F::Code(op, v) => cmp_text(c.code, *op, v),
            F::Label(op, v) => cmp_text(c.label, *op, v),
            F::IdIn(values) => c.id.is_in(values.iter().copied()),
            F::CodeIn(values) => c.code.is_in(values.iter().cloned()),
            F::LabelLike(pattern) => c.label.like(pattern.as_str()),
            F::LabelStartsWith(prefix) => c.label.starts_with(prefix),
            F::NoteEq(v) => c.note.eq(v.clone()),
            F::NoteLike(pattern) => c.note.like(pattern.as_str()),
            F::NoteIsNull => c.note.is_null(),
            F::And(a, b) => a.to_filter().and(b.to_filter()),
            F::Or(a, b) => a.to_filter().or(b.to_filter()),
            F::Not(a) => a.to_filter().not(),
        }
    }
}

/// SQL `LIKE` with `\` as the escape character (all the test's text is lowercase ASCII, so
/// SQLite's case folding and PostgreSQL's case sensitivity agree).
fn like(text: &str, pattern: &str) -> bool {
    fn go(t: &[u8], p: &[u8]) -> bool {
        match p.first() {
            None => t.is_empty(),
            Some(b'%') => (0..=t.len()).any(|i| go(&t[i..], &p[1..])),
            Some(b'_') => !t.is_empty() && go(&t[1..], &p[1..]),
            Some(b'\\') if p.len() > 1 => t.first() == Some(&p[1]) && go(&t[1..], &p[2..]),
            Some(c) => t.first() == Some(c) && go(&t[1..], &p[1..]),
        }
    }
    go(text.as_bytes(), pattern.as_bytes())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Col {
    Id,
    Code,
    Label,
    Amount,
}

/// An order as given: columns and whether descending.
type OrderSpec = Vec<(Col, bool)>;

/// What the order means, by the documented rule: each column once (its first mention), nothing
/// after the key, and the key (ascending) appended when not named.
fn resolve(order: &[(Col, bool)]) -> OrderSpec {
    let mut resolved: OrderSpec = Vec::new();
    for &(col, desc) in order {
        if resolved.iter().any(|&(c, _)| c == col) {
            continue;
        }
        resolved.push((col, desc));
        if col == Col::Id {
            return resolved;
        }
    }
    resolved.push((Col::Id, false));
    resolved
}

fn compare(order: &[(Col, bool)], a: &Row, b: &Row) -> std::cmp::Ordering {
    for &(col, desc) in order {
        let o = match col {
            Col::Id => a.id.cmp(&b.id),
            Col::Code => a.code.cmp(&b.code),
            Col::Label => a.label.cmp(&b.label),
            Col::Amount => a.amount.cmp(&b.amount),
        };
        let o = if desc { o.reverse() } else { o };
        if o.is_ne() {
            return o;
        }
    }
    std::cmp::Ordering::Equal
}

fn to_order(order: &[(Col, bool)]) -> Order<Item> {
    let c = Item::columns();
    let one = |&(col, desc): &(Col, bool)| match (col, desc) {
        (Col::Id, false) => c.id.asc(),
        (Col::Id, true) => c.id.desc(),
        (Col::Code, false) => c.code.asc(),
        (Col::Code, true) => c.code.desc(),
        (Col::Label, false) => c.label.asc(),
        (Col::Label, true) => c.label.desc(),
        (Col::Amount, false) => c.amount.asc(),
        (Col::Amount, true) => c.amount.desc(),
    };
    let mut terms = order.iter();
    let first = one(terms.next().expect("an order has a term"));
    terms.fold(first, |order, term| order.then(one(term)))
}

/// The keyset pages' filters and orders: a fixed table, each entry differing from every other
/// in its order or its filter's values, so a cursor of one entry is foreign to every other.
fn page_specs() -> Vec<(F, OrderSpec)> {
    use Col::*;
    let orders: [OrderSpec; 6] = [
        vec![(Id, false)],
        vec![(Amount, true)],
        vec![(Label, false), (Amount, true)],
        vec![(Code, true)],
        vec![(Amount, false), (Id, true), (Label, false)],
        vec![(Label, true), (Label, false), (Code, false)],
    ];
    let filters = [
        F::All,
        F::Amount(Cmp::Ge, 0),
        F::Or(
            Box::new(F::LabelStartsWith("al".into())),
            Box::new(F::NoteIsNull),
        ),
    ];
    let mut specs = Vec::new();
    for (i, order) in orders.iter().enumerate() {
        for (j, filter) in filters.iter().enumerate() {
            // Distinct values make distinct cursor contexts even where two orders resolve alike.
            let tag = F::Amount(Cmp::Ne, 1000 + (i * 10 + j) as i64);
            specs.push((
                F::And(Box::new(filter.clone()), Box::new(tag)),
                order.clone(),
            ));
        }
    }
    specs
}

/// Which cursor a page continues from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum After {
    /// The first page.
    Start,
    /// The last cursor this tenant got for this spec (the first page if none).
    Own,
    /// The last cursor this tenant got for spec `.0`, given with this op's spec: refused.
    OtherSpec(usize),
    /// The last cursor tenant `.0` (run by the same task) got for this spec: refused.
    Foreign(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Get(i64),
    List,
    ListWhere(F),
    Count,
    CountWhere(F),
    Exists(F),
    Insert(Row),
    InsertMany(Vec<Row>),
    Upsert(Row, Patch),
    Update(i64, Patch),
    UpdateWhere(F, Patch),
    Delete(i64),
    DeleteWhere(F),
    Select {
        filter: Option<F>,
        order: Option<OrderSpec>,
        limit: Option<u64>,
        offset: Option<u64>,
        stream: bool,
    },
    Page {
        spec: usize,
        limit: u64,
        after: After,
    },
    WithParent(Option<F>),
    /// Raw SQL in a `TenantTx`: an optional repository insert, the tenant's rows read back by
    /// raw SQL, then commit or rollback. With row-level security the read names no tenant, and
    /// tenant `foreign`'s rows are probed (read and written) by raw SQL too.
    RawTx {
        insert: Option<Row>,
        commit: bool,
        foreign: usize,
    },
    /// `count` outside any tenant transaction: with row-level security, nothing is visible.
    Unbound,
    /// A checked query (`tenant::sqlx::query!` and its kin): raw SQL whose restriction the
    /// macro injected.
    Checked(CheckedOp),
    /// With two placements only: the tenant moves to the other database (see `placed`).
    Move,
}

/// The checked queries of the search: a join, a LEFT JOIN whose inner side is a tenant table
/// (where a missing restriction adds other tenants' rows to the count), and an update by key
/// (often another tenant's key, which must change nothing).
#[derive(Debug, Clone, PartialEq, Eq)]
enum CheckedOp {
    /// Items with an amount of at least this, each with its group's name, by id.
    JoinAtLeast(i64),
    /// Rows of the groups LEFT JOIN their items.
    LeftJoinCount,
    /// `amount = amount + delta` of the item with this key.
    AddAmount(i64, i64),
}

impl Kind {
    fn name(&self) -> &'static str {
        match self {
            Kind::Get(_) => "get",
            Kind::List => "list",
            Kind::ListWhere(_) => "list_where",
            Kind::Count => "count",
            Kind::CountWhere(_) => "count_where",
            Kind::Exists(_) => "exists",
            Kind::Insert(_) => "insert",
            Kind::InsertMany(_) => "insert_many",
            Kind::Upsert(..) => "upsert",
            Kind::Update(..) => "update",
            Kind::UpdateWhere(..) => "update_where",
            Kind::Delete(_) => "delete",
            Kind::DeleteWhere(_) => "delete_where",
            Kind::Select { stream: false, .. } => "select_all",
            Kind::Select { stream: true, .. } => "select_stream",
            Kind::Page { .. } => "page",
            Kind::WithParent(_) => "with_parent",
            Kind::RawTx { .. } => "raw_tx",
            Kind::Unbound => "unbound_count",
            Kind::Checked(CheckedOp::JoinAtLeast(_)) => "checked_join",
            Kind::Checked(CheckedOp::LeftJoinCount) => "checked_left_join_count",
            Kind::Checked(CheckedOp::AddAmount(..)) => "checked_update",
            Kind::Move => "move",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Op {
    tenant: usize,
    /// Run inside a `TenantTx` (always, with row-level security).
    in_tx: bool,
    /// Names another tenant's key, unique value, group or label (as the generator saw them).
    cross: bool,
    kind: Kind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum ErrKind {
    Conflict,
    ForeignKey,
    EmptyPatch,
    Cursor,
    /// PostgreSQL's `undefined_table` (42P01): with a schema per tenant, a table named outside
    /// any tenant's schema is not found (never some shared table of that name).
    NoTable,
    /// With two placements: the tenant is not placed where the context says.
    Moved,
    /// With two placements: the tenant is fenced for a move.
    Fenced,
    /// Anything else: never predicted, so always a difference.
    Other(String),
}

fn err_kind(error: &Error) -> ErrKind {
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

#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Row(Option<Row>),
    Rows(Vec<Row>),
    Count(u64),
    Bool(bool),
    Page {
        rows: Vec<Row>,
        more: bool,
    },
    Pairs(Vec<(Row, String)>),
    Raw {
        insert: Option<Result<Row, ErrKind>>,
        ids: Vec<i64>,
        foreign_rows: Option<i64>,
        foreign_insert_refused: Option<bool>,
    },
    Move(placed::MoveSeen),
    Err(ErrKind),
}

/// A deliberately wrong model, to show that the search notices and the shrinker shrinks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mutant {
    /// Predicts a delete's count but keeps the row.
    ForgetsDeletes,
}

/// How a backend keeps tenants apart, as far as the model must know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// The repositories' own tenant predicates alone (SQLite, PostgreSQL).
    Predicates,
    /// Row-level security, every op but the unbound count in a `TenantTx`.
    Rls,
    /// A schema per tenant, every op but the unbound count in `TenantTx::begin_in_schema`.
    /// The repository ops are predicted as elsewhere: keys are the caller's (none is
    /// generated, so no per-schema sequence shows), and the key, the unique value and the
    /// foreign key are all led by the tenant column, so one table per tenant holding only its
    /// rows (and its groups) accepts and refuses exactly what the shared table does. Only the
    /// raw probes and the unbound count differ (see `predict`).
    Schema,
}

/// One tenant's rows, by key.
type State = BTreeMap<i64, Row>;

fn group_name(t: usize, group: i64) -> String {
    format!("{}-g{group}", tenant_name(t))
}

/// Unique first, then the foreign key: both backends check uniqueness as each row is written
/// and the tenant-led foreign key at the end of the statement.
fn write_error(state: &State, t: usize, rows: &[Row], replaced: &[i64]) -> Option<ErrKind> {
    let mut seen_ids = Vec::new();
    let mut seen_codes: Vec<&str> = Vec::new();
    for row in rows {
        let id_taken = !replaced.contains(&row.id) && state.contains_key(&row.id);
        let code_taken = state
            .values()
            .any(|other| other.code == row.code && !replaced.contains(&other.id));
        if id_taken
            || code_taken
            || seen_ids.contains(&row.id)
            || seen_codes.contains(&row.code.as_str())
        {
            return Some(ErrKind::Conflict);
        }
        seen_ids.push(row.id);
        seen_codes.push(&row.code);
    }
    rows.iter()
        .any(|row| !valid_group(t, row.group))
        .then_some(ErrKind::ForeignKey)
}

/// Applies `patch` to the rows with `ids` (all of the tenant's), or says which error stops it.
fn update_rows(state: &mut State, t: usize, ids: &[i64], patch: &Patch) -> Result<u64, ErrKind> {
    let updated: Vec<Row> = ids
        .iter()
        .map(|id| {
            let mut row = state[id].clone();
            patch.apply(&mut row);
            row
        })
        .collect();
    // The rows not updated keep their codes; the updated ones must differ from those and from
    // each other.
    if let Some(error) = write_error(state, t, &updated, ids) {
        return Err(error);
    }
    for row in updated {
        state.insert(row.id, row);
    }
    Ok(ids.len() as u64)
}

/// Cursor bookkeeping a task keeps: the last cursor each (tenant, spec) got, and the ordering
/// position (the last row of that page) the model says it stands for.
type Cursors = HashMap<(usize, usize), (Cursor<Item>, Row)>;

/// What the model predicts for `op` on tenant `t`'s `state`, updating it on success. `cursor`
/// is what the page op will be given (`Some(Ok(row))` an own cursor after `row`,
/// `Some(Err(()))` a cursor that must be refused).
fn predict(
    state: &mut State,
    op: &Op,
    mode: Mode,
    cursor: Option<Result<&Row, ()>>,
    mutant: Option<Mutant>,
) -> Outcome {
    let t = op.tenant;
    let filtered = |state: &State, f: &F| -> Vec<Row> {
        state.values().filter(|r| f.matches(r)).cloned().collect()
    };
    match &op.kind {
        Kind::Move => Outcome::Move(placed::MoveSeen::expected(t, state.len())),
        Kind::Get(id) => Outcome::Row(state.get(id).cloned()),
        Kind::List => Outcome::Rows(state.values().cloned().collect()),
        Kind::ListWhere(f) => Outcome::Rows(filtered(state, f)),
        Kind::Count => Outcome::Count(state.len() as u64),
        Kind::CountWhere(f) => Outcome::Count(filtered(state, f).len() as u64),
        Kind::Exists(f) => Outcome::Bool(!filtered(state, f).is_empty()),
        Kind::Insert(row) => match write_error(state, t, std::slice::from_ref(row), &[]) {
            Some(error) => Outcome::Err(error),
            None => {
                state.insert(row.id, row.clone());
                Outcome::Row(Some(row.clone()))
            }
        },
        Kind::InsertMany(rows) => match write_error(state, t, rows, &[]) {
            Some(error) => Outcome::Err(error),
            None => {
                for row in rows {
                    state.insert(row.id, row.clone());
                }
                Outcome::Count(rows.len() as u64)
            }
        },
        Kind::Upsert(row, patch) => {
            if state.contains_key(&row.id) {
                match update_rows(state, t, &[row.id], patch) {
                    Ok(_) => Outcome::Row(state.get(&row.id).cloned()),
                    Err(error) => Outcome::Err(error),
                }
            } else {
                match write_error(state, t, std::slice::from_ref(row), &[]) {
                    Some(error) => Outcome::Err(error),
                    None => {
                        state.insert(row.id, row.clone());
                        Outcome::Row(Some(row.clone()))
                    }
                }
            }
        }
        Kind::Update(id, patch) => {
            if patch.is_empty() {
                return Outcome::Err(ErrKind::EmptyPatch);
            }
            let ids: Vec<i64> = state.get(id).map(|r| r.id).into_iter().collect();
            match update_rows(state, t, &ids, patch) {
                Ok(n) => Outcome::Count(n),
                Err(error) => Outcome::Err(error),
            }
        }
        Kind::UpdateWhere(f, patch) => {
            if patch.is_empty() {
                return Outcome::Err(ErrKind::EmptyPatch);
            }
            let ids: Vec<i64> = filtered(state, f).iter().map(|r| r.id).collect();
            match update_rows(state, t, &ids, patch) {
                Ok(n) => Outcome::Count(n),
                Err(error) => Outcome::Err(error),
            }
        }
        Kind::Delete(id) => {
            let found = if mutant == Some(Mutant::ForgetsDeletes) {
                state.contains_key(id)
            } else {
                state.remove(id).is_some()
            };
            Outcome::Count(u64::from(found))
        }
        Kind::DeleteWhere(f) => {
            let ids: Vec<i64> = filtered(state, f).iter().map(|r| r.id).collect();
            for id in &ids {
                state.remove(id);
            }
            Outcome::Count(ids.len() as u64)
        }
        Kind::Select {
            filter,
            order,
            limit,
            offset,
            ..
        } => {
            let mut rows = filtered(state, filter.as_ref().unwrap_or(&F::All));
            let order = resolve(order.as_deref().unwrap_or(&[(Col::Id, false)]));
            rows.sort_by(|a, b| compare(&order, a, b));
            let skip = offset.unwrap_or(0) as usize;
            let take = limit.map_or(usize::MAX, |n| n as usize);
            Outcome::Rows(rows.into_iter().skip(skip).take(take).collect())
        }
        Kind::Page { spec, limit, .. } => {
            let (f, order) = &PAGE_SPECS[*spec];
            let order = resolve(order);
            let after = match cursor {
                Some(Err(())) => return Outcome::Err(ErrKind::Cursor),
                Some(Ok(row)) => Some(row),
                None => None,
            };
            let mut rows: Vec<Row> = filtered(state, f)
                .into_iter()
                .filter(|r| after.is_none_or(|a| compare(&order, r, a).is_gt()))
                .collect();
            rows.sort_by(|a, b| compare(&order, a, b));
            let limit = (*limit).max(1) as usize;
            let more = rows.len() > limit;
            rows.truncate(limit);
            Outcome::Page { rows, more }
        }
        Kind::Checked(CheckedOp::JoinAtLeast(min)) => Outcome::Pairs(
            state
                .values()
                .filter(|r| r.amount >= *min)
                .map(|r| (r.clone(), group_name(t, r.group)))
                .collect(),
        ),
        Kind::Checked(CheckedOp::LeftJoinCount) => Outcome::Count(
            tenant_groups(t)
                .map(|g| state.values().filter(|r| r.group == g.id).count().max(1) as u64)
                .sum(),
        ),
        Kind::Checked(CheckedOp::AddAmount(id, delta)) => match state.get_mut(id) {
            Some(row) => {
                row.amount += delta;
                Outcome::Count(1)
            }
            None => Outcome::Count(0),
        },
        Kind::WithParent(f) => Outcome::Pairs(
            filtered(state, f.as_ref().unwrap_or(&F::All))
                .into_iter()
                .map(|r| {
                    let name = group_name(t, r.group);
                    (r, name)
                })
                .collect(),
        ),
        Kind::RawTx { insert, commit, .. } => {
            let mut ids: Vec<i64> = state.keys().copied().collect();
            let inserted = insert.as_ref().map(|row| {
                match write_error(state, t, std::slice::from_ref(row), &[]) {
                    Some(error) => Err(error),
                    None => Ok(row.clone()),
                }
            });
            match &inserted {
                Some(Err(_)) => ids.clear(),
                Some(Ok(row)) => {
                    ids.push(row.id);
                    ids.sort_unstable();
                    if *commit {
                        state.insert(row.id, row.clone());
                    }
                }
                None => {}
            }
            // The foreign probes (row-level security and a schema per tenant) run when the
            // insert went through: another tenant's rows are never visible (0), and writing a
            // row in its name is refused. With row-level security the policy refuses it; with
            // a schema per tenant nothing but the tenant's own tables is in reach, and there the
            // tenant-led foreign key refuses it, this schema holding no group of the other
            // tenant (see `raw_tx`).
            let probed = mode != Mode::Predicates && !matches!(inserted, Some(Err(_)));
            Outcome::Raw {
                insert: inserted,
                ids,
                foreign_rows: probed.then_some(0),
                foreign_insert_refused: probed.then_some(true),
            }
        }
        Kind::Unbound => match mode {
            Mode::Predicates => Outcome::Count(state.len() as u64),
            // Outside a tenant transaction the policy shows nothing.
            Mode::Rls => Outcome::Count(0),
            // Outside a tenant's schema (the pool's own search path names no schema that
            // exists) there is no `leak_items` at all: an error, not a count of anyone's rows.
            Mode::Schema => Outcome::Err(ErrKind::NoTable),
        },
    }
}

static PAGE_SPECS: std::sync::LazyLock<Vec<(F, OrderSpec)>> = std::sync::LazyLock::new(page_specs);

// ---------------------------------------------------------------------------------------------
// The generator: a whole program, sequentially, over a model of every tenant.
// ---------------------------------------------------------------------------------------------

struct Generator {
    rng: Rng,
    states: Vec<State>,
    /// Whether the op being generated names something of another tenant.
    cross: bool,
    /// Whether the last label was tagged with another tenant's name (which matters in filters).
    foreign_label: bool,
}

impl Generator {
    fn other_tenant(&mut self, t: usize) -> usize {
        (t + 1 + self.rng.below(TENANTS as u64 - 1) as usize) % TENANTS
    }

    /// A key: often the tenant's own, often one only another tenant has, sometimes any.
    fn id(&mut self, t: usize) -> i64 {
        let roll = self.rng.below(100);
        if roll < 50 {
            let own: Vec<i64> = self.states[t].keys().copied().collect();
            if let Some(&id) = self.rng.pick(&own) {
                return id;
            }
        } else if roll < 80 {
            let other = self.other_tenant(t);
            let theirs: Vec<i64> = self.states[other]
                .keys()
                .filter(|id| !self.states[t].contains_key(id))
                .copied()
                .collect();
            if let Some(&id) = self.rng.pick(&theirs) {
                self.cross = true;
                return id;
            }
        }
        1 + self.rng.below(KEYS as u64) as i64
    }

    fn code(&mut self, t: usize) -> String {
        if self.rng.chance(30) {
            let other = self.other_tenant(t);
            let theirs: Vec<String> = self.states[other]
                .values()
                .map(|r| r.code.clone())
                .filter(|c| !self.states[t].values().any(|r| &r.code == c))
                .collect();
            if let Some(code) = self.rng.pick(&theirs) {
                self.cross = true;
                return code.clone();
            }
        }
        format!("c{}", self.rng.below(CODES))
    }

    /// A word, or a word tagged with a tenant's name (sometimes another tenant's).
    fn label(&mut self, t: usize) -> String {
        let word = WORDS[self.rng.below(WORDS.len() as u64) as usize];
        self.foreign_label = false;
        match self.rng.below(3) {
            0 => word.to_owned(),
            1 => format!("{}-{word}", tenant_name(t)),
            _ => {
                self.foreign_label = true;
                let other = self.other_tenant(t);
                format!("{}-{word}", tenant_name(other))
            }
        }
    }

    fn group(&mut self, t: usize) -> i64 {
        match self.rng.below(10) {
            0 => {
                self.cross = true;
                PRIVATE_GROUP + self.other_tenant(t) as i64
            }
            1 | 2 => PRIVATE_GROUP + t as i64,
            _ => 1 + self.rng.below(SHARED_GROUPS as u64) as i64,
        }
    }

    fn note(&mut self) -> Option<String> {
        self.rng
            .chance(60)
            .then(|| WORDS[self.rng.below(WORDS.len() as u64) as usize].to_owned())
    }

    fn row(&mut self, t: usize) -> Row {
        Row {
            id: self.id(t),
            code: self.code(t),
            label: self.label(t),
            amount: self.rng.below(21) as i64 - 10,
            note: self.note(),
            group: self.group(t),
        }
    }

    fn patch(&mut self, t: usize) -> Patch {
        Patch {
            code: self.rng.chance(20).then(|| self.code(t)),
            label: self.rng.chance(30).then(|| self.label(t)),
            amount: self.rng.chance(40).then(|| self.rng.below(21) as i64 - 10),
            note: self.rng.chance(25).then(|| self.note()),
            group: self.rng.chance(20).then(|| self.group(t)),
        }
    }

    fn cmp(&mut self) -> Cmp {
        [Cmp::Eq, Cmp::Ne, Cmp::Lt, Cmp::Le, Cmp::Gt, Cmp::Ge][self.rng.below(6) as usize]
    }

    fn pattern(&mut self, t: usize) -> String {
        let base = self.label(t);
        let cut = self.rng.below(base.len() as u64 + 1) as usize;
        let mut pattern: String = base.chars().take(cut).collect();
        // A pattern may not end with the escape character (PostgreSQL refuses it).
        if pattern.ends_with('\\') {
            pattern.pop();
        }
        match self.rng.below(4) {
            0 => pattern.push('%'),
            1 => pattern = format!("%{pattern}%"),
            2 => pattern.push('_'),
            _ => {}
        }
        pattern
    }

    fn filter(&mut self, t: usize, depth: u32) -> F {
        if depth < 2 && self.rng.chance(35) {
            let a = Box::new(self.filter(t, depth + 1));
            return match self.rng.below(3) {
                0 => F::And(a, Box::new(self.filter(t, depth + 1))),
                1 => F::Or(a, Box::new(self.filter(t, depth + 1))),
                _ => F::Not(a),
            };
        }
        match self.rng.below(14) {
            0 => F::All,
            1 => F::Not(Box::new(F::All)),
            2 => {
                let op = self.cmp();
                F::Id(op, self.id(t))
            }
            3 => {
                let op = self.cmp();
                F::Amount(op, self.rng.below(21) as i64 - 10)
            }
            4 => {
                let op = self.cmp();
                F::Code(op, self.code(t))
            }
            5 => {
                let op = self.cmp();
                let label = self.label(t);
                self.cross |= self.foreign_label;
                F::Label(op, label)
            }
            6 => {
                let n = self.rng.below(4);
                F::IdIn((0..n).map(|_| self.id(t)).collect())
            }
            7 => {
                let n = self.rng.below(4);
                F::CodeIn((0..n).map(|_| self.code(t)).collect())
            }
            8 => {
                let pattern = self.pattern(t);
                self.cross |= self.foreign_label;
                F::LabelLike(pattern)
            }
            9 => {
                let label = self.label(t);
                self.cross |= self.foreign_label;
                let cut = self.rng.below(label.len() as u64 + 1) as usize;
                F::LabelStartsWith(label.chars().take(cut).collect())
            }
            10 => F::NoteEq(WORDS[self.rng.below(WORDS.len() as u64) as usize].to_owned()),
            11 => F::NoteLike(self.pattern(t)),
            12 => F::NoteIsNull,
            _ => F::Not(Box::new(F::NoteIsNull)),
        }
    }

    fn order(&mut self) -> OrderSpec {
        let n = 1 + self.rng.below(3);
        (0..n)
            .map(|_| {
                let col = [Col::Id, Col::Code, Col::Label, Col::Amount][self.rng.below(4) as usize];
                (col, self.rng.chance(50))
            })
            .collect()
    }

    fn kind(&mut self, t: usize) -> Kind {
        match self.rng.below(106) {
            0..=7 => Kind::Get(self.id(t)),
            8..=9 => Kind::List,
            10..=13 => Kind::ListWhere(self.filter(t, 0)),
            14..=15 => Kind::Count,
            16..=19 => Kind::CountWhere(self.filter(t, 0)),
            20..=22 => Kind::Exists(self.filter(t, 0)),
            23..=34 => Kind::Insert(self.row(t)),
            35..=39 => {
                let n = self.rng.below(5);
                Kind::InsertMany((0..n).map(|_| self.row(t)).collect())
            }
            40..=45 => Kind::Upsert(self.row(t), self.patch(t)),
            46..=51 => Kind::Update(self.id(t), self.patch(t)),
            52..=54 => Kind::UpdateWhere(self.filter(t, 0), self.patch(t)),
            55..=60 => Kind::Delete(self.id(t)),
            61..=62 => Kind::DeleteWhere(self.filter(t, 0)),
            63..=70 => Kind::Select {
                filter: self.rng.chance(70).then(|| self.filter(t, 0)),
                order: self.rng.chance(70).then(|| self.order()),
                limit: self.rng.chance(50).then(|| self.rng.below(6)),
                offset: self.rng.chance(40).then(|| self.rng.below(6)),
                stream: self.rng.chance(50),
            },
            71..=86 => {
                let spec = self.rng.below(PAGE_SPECS.len() as u64) as usize;
                let after = match self.rng.below(10) {
                    0 | 1 => After::Start,
                    2 => After::OtherSpec(self.rng.below(PAGE_SPECS.len() as u64) as usize),
                    3 | 4 => {
                        // A tenant its task also runs, so the cursor exists by then.
                        let siblings: Vec<usize> = (0..TENANTS)
                            .filter(|&o| o != t && o % TASKS == t % TASKS)
                            .collect();
                        After::Foreign(*self.rng.pick(&siblings).expect("siblings"))
                    }
                    _ => After::Own,
                };
                Kind::Page {
                    spec,
                    limit: self.rng.below(5),
                    after,
                }
            }
            87..=90 => Kind::WithParent(self.rng.chance(60).then(|| self.filter(t, 0))),
            91..=97 => Kind::RawTx {
                insert: self.rng.chance(60).then(|| self.row(t)),
                commit: self.rng.chance(70),
                foreign: self.other_tenant(t),
            },
            98..=99 => Kind::Unbound,
            100..=101 => Kind::Checked(CheckedOp::JoinAtLeast(self.rng.below(1000) as i64)),
            102..=103 => Kind::Checked(CheckedOp::LeftJoinCount),
            _ => Kind::Checked(CheckedOp::AddAmount(
                self.id(t),
                1 + self.rng.below(9) as i64,
            )),
        }
    }
}

fn generate(seed: u64, n: usize) -> Vec<Op> {
    let mut generator = Generator {
        rng: Rng::new(seed),
        states: vec![State::new(); TENANTS],
        cross: false,
        foreign_label: false,
    };
    (0..n)
        .map(|_| {
            let tenant = generator.rng.below(TENANTS as u64) as usize;
            generator.cross = false;
            let kind = generator.kind(tenant);
            let in_tx = generator.rng.chance(20);
            let op = Op {
                tenant,
                in_tx,
                cross: generator.cross,
                kind,
            };
            // Cursors do not matter to the state: predict as if every page started afresh.
            let _ = predict(
                &mut generator.states[tenant],
                &op,
                Mode::Predicates,
                None,
                None,
            );
            op
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Running a program against a database.
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BackendKind {
    Sqlite,
    Postgres,
    PostgresRls,
    PostgresSchema,
    /// Two SQLite files behind a pool set, tenants spread over both, moves in the program.
    SqlitePlaced,
    /// The same on two private PostgreSQL servers (their superuser URLs).
    PostgresPlaced(&'static [String; 2]),
}

#[derive(Clone)]
enum Db {
    Sqlite(sqlx::SqlitePool, std::path::PathBuf),
    Postgres(sqlx::PgPool),
    /// The application role's pool; row-level security is on.
    Rls(sqlx::PgPool),
    /// The owner's pool, whose own search path names no schema that exists, and every
    /// tenant's context, each with this run's schema of that tenant.
    Schema(sqlx::PgPool, Arc<Vec<TenantCtx>>),
    SqlitePlaced(Arc<placed::Placed<sqlx::Sqlite>>),
    PostgresPlaced(Arc<placed::Placed<sqlx::Postgres>>),
}

impl Db {
    fn mode(&self) -> Mode {
        match self {
            Db::Sqlite(..) | Db::Postgres(_) | Db::SqlitePlaced(_) | Db::PostgresPlaced(_) => {
                Mode::Predicates
            }
            Db::Rls(_) => Mode::Rls,
            Db::Schema(..) => Mode::Schema,
        }
    }

    /// Tenant `t`'s context: with a schema per tenant, the one naming this run's schema.
    fn ctx(&self, t: usize) -> TenantCtx {
        match self {
            Db::Schema(_, tenants) => tenants[t].clone(),
            Db::SqlitePlaced(placed) => placed.ctx(t),
            Db::PostgresPlaced(placed) => placed.ctx(t),
            _ => ctx(t),
        }
    }

    async fn close(self) {
        match self {
            Db::Schema(pool, tenants) => {
                let sys = ProvisionCtx::new("leak search: drop the run's tenant schemas").unwrap();
                for ctx in tenants.iter() {
                    tenant_schema()
                        .drop(&sys, &pool, ctx.schema_name())
                        .await
                        .unwrap();
                }
                pool.close().await;
            }
            Db::Sqlite(pool, path) => {
                pool.close().await;
                for suffix in ["", "-wal", "-shm"] {
                    let mut file = path.clone().into_os_string();
                    file.push(suffix);
                    let _ = std::fs::remove_file(file);
                }
            }
            Db::Postgres(pool) | Db::Rls(pool) => pool.close().await,
            Db::SqlitePlaced(placed) => placed.close().await,
            Db::PostgresPlaced(placed) => placed.close().await,
        }
    }
}

/// A fresh database with the tables and every tenant's groups, or `None` when the backend's
/// server is not configured.
async fn fresh(kind: BackendKind) -> Option<Db> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, AtomicOrdering::Relaxed);
    match kind {
        BackendKind::Sqlite => {
            use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
            let path = std::env::temp_dir()
                .join(format!("tenant_leak_search_{}_{n}.db", std::process::id()));
            let options = SqliteConnectOptions::new()
                .filename(&path)
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(60));
            let pool = SqlitePoolOptions::new()
                .max_connections(4)
                .connect_with(options)
                .await
                .unwrap();
            on_sqlite::create(&pool).await.unwrap();
            Some(Db::Sqlite(pool, path))
        }
        BackendKind::Postgres => {
            let pool = support::postgres(&format!("leak_search_{n}")).await?;
            on_postgres::create(&pool).await.unwrap();
            Some(Db::Postgres(pool))
        }
        BackendKind::PostgresRls => {
            let (owner, app) =
                support::postgres_app_role(&format!("leak_search_rls_{n}"), 8).await?;
            on_postgres::create(&owner).await.unwrap();
            support::install_row_security(&owner).await;
            GroupRepo::new(&owner).row_level_security().await.unwrap();
            ItemRepo::new(&owner).row_level_security().await.unwrap();
            owner.close().await;
            Some(Db::Rls(app))
        }
        BackendKind::PostgresSchema => {
            use std::str::FromStr;

            use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

            let url = support::server_var("DATABASE_URL", "leak_search on a schema per tenant")?;
            // Names no other run uses, on a server others share: a random tag (another
            // container's process may have this process's id) and the run's number.
            static TAG: std::sync::LazyLock<u32> = std::sync::LazyLock::new(|| {
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64;
                Rng::new(nanos ^ u64::from(std::process::id())).next_u64() as u32
            });
            let prefix = format!("leak_{:08x}_{n}", *TAG);
            // The pool's own search path is a schema never created: outside a tenant's
            // transaction no `leak_items` resolves (the unbound count expects that error).
            let options = PgConnectOptions::from_str(&url)
                .unwrap()
                .options([("search_path", format!("{prefix}_none"))]);
            let pool = PgPoolOptions::new()
                .max_connections(TASKS as u32)
                .connect_with(options)
                .await
                .expect("connect to DATABASE_URL");
            let tenants: Vec<TenantCtx> = (0..TENANTS)
                .map(|t| {
                    let schema = format!("{prefix}_{}", tenant_name(t));
                    TenantCtx::trusted(
                        tenant_name(t).parse().unwrap(),
                        schema.parse().unwrap(),
                        Plan::Free,
                    )
                })
                .collect();
            let sys = ProvisionCtx::new("leak search: provision the run's tenant schemas").unwrap();
            for (t, ctx) in tenants.iter().enumerate() {
                let schema = tenant_schema();
                // Nothing of an earlier run may be reused.
                schema.drop(&sys, &pool, ctx.schema_name()).await.unwrap();
                schema.create(&sys, &pool, ctx.schema_name()).await.unwrap();
                // Each schema holds its own tenant's groups only.
                let mut tx = TenantTx::begin_in_schema(&pool, ctx).await.unwrap();
                tx.repo::<Group>()
                    .insert_many(ctx, tenant_groups(t))
                    .await
                    .unwrap();
                tx.commit().await.unwrap();
            }
            Some(Db::Schema(pool, Arc::new(tenants)))
        }
        BackendKind::SqlitePlaced => Some(Db::SqlitePlaced(Arc::new(placed::sqlite(n).await))),
        BackendKind::PostgresPlaced(urls) => Some(Db::PostgresPlaced(Arc::new(
            placed::postgres(urls, n).await,
        ))),
    }
}

/// Every tenant's schema, with a schema per tenant.
fn tenant_schema() -> TenantSchema {
    TenantSchema::new().entity::<Group>().entity::<Item>()
}

/// Tenant `t`'s groups: the shared numbers and its private one.
fn tenant_groups(t: usize) -> impl Iterator<Item = NewGroup> {
    (1..=SHARED_GROUPS)
        .chain([PRIVATE_GROUP + t as i64])
        .map(move |id| NewGroup {
            id,
            name: group_name(t, id),
        })
}

fn ctx(t: usize) -> TenantCtx {
    support::ctx(&tenant_name(t), Plan::Free)
}

/// Counts rows whose tenant is not the caller's: the leaks.
struct Check<'a> {
    tenant: &'a TenantId,
    leaks: u64,
}

impl Check<'_> {
    fn tenant(&mut self, tenant: &TenantId) {
        if tenant != self.tenant {
            self.leaks += 1;
        }
    }

    fn item(&mut self, item: Item) -> Row {
        self.tenant(&item.tenant_id);
        Row {
            id: item.id,
            code: item.code,
            label: item.label,
            amount: item.amount,
            note: item.note,
            group: item.group_id,
        }
    }

    fn items(&mut self, items: Vec<Item>) -> Vec<Row> {
        items.into_iter().map(|item| self.item(item)).collect()
    }
}

fn new_item(row: &Row) -> NewItem {
    NewItem {
        id: row.id,
        code: row.code.clone(),
        label: row.label.clone(),
        amount: row.amount,
        note: row.note.clone(),
        group_id: row.group,
    }
}

fn item_patch(patch: &Patch) -> ItemPatch {
    ItemPatch {
        code: patch.code.clone(),
        label: patch.label.clone(),
        amount: patch.amount,
        note: patch.note.clone(),
        group_id: patch.group,
    }
}

/// The cursor a page op is given, as the repository sees it.
type GivenCursor = Option<Cursor<Item>>;

macro_rules! backend {
    ($module:ident, $db:ty, $own_rows:literal) => {
        mod $module {
            use super::*;

            type Db = $db;

            /// The tables, and every tenant's groups.
            pub(super) async fn create(pool: &sqlx::Pool<Db>) -> Result<(), Error> {
                GroupRepo::new(pool).create_table().await?;
                ItemRepo::new(pool).create_table().await?;
                for t in 0..TENANTS {
                    GroupRepo::new(pool)
                        .insert_many(&ctx(t), tenant_groups(t))
                        .await?;
                }
                Ok(())
            }

            /// Whether `kind` is a repository read, which a routed handle runs.
            pub(super) fn is_read(kind: &Kind) -> bool {
                matches!(
                    kind,
                    Kind::Get(_)
                        | Kind::List
                        | Kind::ListWhere(_)
                        | Kind::Count
                        | Kind::Unbound
                        | Kind::CountWhere(_)
                        | Kind::Exists(_)
                        | Kind::Select { .. }
                        | Kind::Page { .. }
                        | Kind::WithParent(_)
                )
            }

            /// Runs a repository op over `conn` (a pool or a `TenantTx`).
            pub(super) async fn exec<X: WriteConn<Database = Db>>(
                conn: X,
                ctx: &TenantCtx,
                kind: &Kind,
                cursor: GivenCursor,
                check: &mut Check<'_>,
            ) -> (Outcome, Option<Cursor<Item>>) {
                if is_read(kind) {
                    return read(conn, ctx, kind, cursor, check).await;
                }
                let mut repo = Repo::<Item, X>::new(conn);
                let err = |e: Error| Outcome::Err(err_kind(&e));
                let outcome = match kind {
                    Kind::Insert(row) => match repo.insert(ctx, new_item(row)).await {
                        Ok(item) => Outcome::Row(Some(check.item(item))),
                        Err(e) => err(e),
                    },
                    Kind::InsertMany(rows) => {
                        match repo.insert_many(ctx, rows.iter().map(new_item)).await {
                            Ok(n) => Outcome::Count(n),
                            Err(e) => err(e),
                        }
                    }
                    Kind::Upsert(row, patch) => {
                        match repo.upsert(ctx, new_item(row), item_patch(patch)).await {
                            Ok(item) => Outcome::Row(Some(check.item(item))),
                            Err(e) => err(e),
                        }
                    }
                    Kind::Update(id, patch) => {
                        match repo.update(ctx, *id, item_patch(patch)).await {
                            Ok(n) => Outcome::Count(n),
                            Err(e) => err(e),
                        }
                    }
                    Kind::UpdateWhere(f, patch) => {
                        match repo
                            .update_where(ctx, f.to_filter(), item_patch(patch))
                            .await
                        {
                            Ok(n) => Outcome::Count(n),
                            Err(e) => err(e),
                        }
                    }
                    Kind::Delete(id) => match repo.delete(ctx, *id).await {
                        Ok(n) => Outcome::Count(n),
                        Err(e) => err(e),
                    },
                    Kind::DeleteWhere(f) => match repo.delete_where(ctx, f.to_filter()).await {
                        Ok(n) => Outcome::Count(n),
                        Err(e) => err(e),
                    },
                    _ => unreachable!("reads run in `read`, the rest elsewhere"),
                };
                (outcome, None)
            }

            /// Runs a repository read over `conn` (a pool, a `TenantTx` or a routed handle).
            pub(super) async fn read<X: Conn<Database = Db>>(
                conn: X,
                ctx: &TenantCtx,
                kind: &Kind,
                cursor: GivenCursor,
                check: &mut Check<'_>,
            ) -> (Outcome, Option<Cursor<Item>>) {
                let mut repo = Repo::<Item, X>::new(conn);
                let err = |e: Error| Outcome::Err(err_kind(&e));
                let outcome = match kind {
                    Kind::Get(id) => match repo.get(ctx, *id).await {
                        Ok(row) => Outcome::Row(row.map(|i| check.item(i))),
                        Err(e) => err(e),
                    },
                    Kind::List => match repo.list(ctx).await {
                        Ok(rows) => Outcome::Rows(check.items(rows)),
                        Err(e) => err(e),
                    },
                    Kind::ListWhere(f) => match repo.list_where(ctx, f.to_filter()).await {
                        Ok(rows) => Outcome::Rows(check.items(rows)),
                        Err(e) => err(e),
                    },
                    Kind::Count | Kind::Unbound => match repo.count(ctx).await {
                        Ok(n) => Outcome::Count(n),
                        Err(e) => err(e),
                    },
                    Kind::CountWhere(f) => match repo.count_where(ctx, f.to_filter()).await {
                        Ok(n) => Outcome::Count(n),
                        Err(e) => err(e),
                    },
                    Kind::Exists(f) => match repo.exists(ctx, f.to_filter()).await {
                        Ok(b) => Outcome::Bool(b),
                        Err(e) => err(e),
                    },
                    Kind::Select {
                        filter,
                        order,
                        limit,
                        offset,
                        stream,
                    } => {
                        let mut select = repo.select(ctx);
                        if let Some(f) = filter {
                            select = select.filter(f.to_filter());
                        }
                        if let Some(order) = order {
                            select = select.order(to_order(order));
                        }
                        if let Some(limit) = limit {
                            select = select.limit(*limit);
                        }
                        if let Some(offset) = offset {
                            select = select.offset(*offset);
                        }
                        let rows = if *stream {
                            select.stream().try_collect::<Vec<_>>().await
                        } else {
                            select.all().await
                        };
                        match rows {
                            Ok(rows) => Outcome::Rows(check.items(rows)),
                            Err(e) => err(e),
                        }
                    }
                    Kind::Page { spec, limit, .. } => {
                        let (f, order) = &PAGE_SPECS[*spec];
                        let request = PageRequest::new(to_order(order), *limit)
                            .filter(f.to_filter())
                            .after(cursor);
                        match repo.page(ctx, request).await {
                            Ok(page) => {
                                let more = page.next.is_some();
                                let rows = check.items(page.items);
                                return (Outcome::Page { rows, more }, page.next);
                            }
                            Err(e) => err(e),
                        }
                    }
                    Kind::WithParent(f) => {
                        let filter = f.as_ref().map(F::to_filter);
                        match repo.with_parent::<Group>(ctx, filter).await {
                            Ok(pairs) => Outcome::Pairs(
                                pairs
                                    .into_iter()
                                    .map(|(item, group)| {
                                        check.tenant(&group.tenant_id);
                                        (check.item(item), group.name)
                                    })
                                    .collect(),
                            ),
                            Err(e) => err(e),
                        }
                    }
                    _ => unreachable!("writes run in `exec`, the rest elsewhere"),
                };
                (outcome, None)
            }

            /// A checked query over `conn`; the rows it returns name their tenant's groups,
            /// so a join across tenants shows as a leak as well as a difference.
            pub(super) async fn checked<'x, X: CheckedExecutor<'x, Database = Db>>(
                conn: X,
                ctx: &TenantCtx,
                op: &CheckedOp,
                check: &mut Check<'_>,
            ) -> Outcome {
                let err = |e: Error| Outcome::Err(err_kind(&e));
                match op {
                    CheckedOp::JoinAtLeast(min) => {
                        let rows = query_as!(
                            ctx,
                            (i64, String, String, i64, Option<String>, i64, String),
                            "SELECT i.id, i.code, i.label, i.amount, i.note, i.group_id, g.name \
                             FROM {Item} i JOIN {Group} g ON g.id = i.group_id \
                             WHERE i.amount >= $1 ORDER BY i.id",
                            *min
                        )
                        .fetch_all(conn)
                        .await;
                        let prefix = format!("{}-", ctx.tenant_id());
                        match rows {
                            Ok(rows) => Outcome::Pairs(
                                rows.into_iter()
                                    .map(|(id, code, label, amount, note, group, name)| {
                                        if !name.starts_with(&prefix) {
                                            check.leaks += 1;
                                        }
                                        let row = Row {
                                            id,
                                            code,
                                            label,
                                            amount,
                                            note,
                                            group,
                                        };
                                        (row, name)
                                    })
                                    .collect(),
                            ),
                            Err(e) => err(e),
                        }
                    }
                    CheckedOp::LeftJoinCount => match query_scalar!(
                        ctx,
                        i64,
                        "SELECT CAST(count(*) AS BIGINT) FROM {Group} g \
                         LEFT JOIN {Item} i ON i.group_id = g.id"
                    )
                    .fetch_one(conn)
                    .await
                    {
                        Ok(n) => Outcome::Count(n as u64),
                        Err(e) => err(e),
                    },
                    CheckedOp::AddAmount(id, delta) => match query!(
                        ctx,
                        "UPDATE {Item} SET amount = amount + $1 WHERE id = $2",
                        *delta,
                        *id
                    )
                    .execute(conn)
                    .await
                    {
                        Ok(done) => Outcome::Count(done.rows_affected()),
                        Err(e) => err(e),
                    },
                }
            }

            /// An op of two placements: through the pool set, `begin` (behind the placement
            /// fence) for ops in a transaction and raw SQL, `route` for repository ops outside
            /// one, the routed pool for checked queries outside one.
            pub(super) async fn through_pool_set(
                db: &placed::Placed<Db>,
                ctx: &TenantCtx,
                op: &Op,
                cursor: GivenCursor,
                check: &mut Check<'_>,
            ) -> (Outcome, Option<Cursor<Item>>) {
                let err = |e: Error| (Outcome::Err(err_kind(&e)), None);
                match &op.kind {
                    Kind::Move => {
                        let seen = db.move_tenant(op.tenant).await;
                        return (
                            seen.map_or_else(|e| Outcome::Err(ErrKind::Other(e)), Outcome::Move),
                            None,
                        );
                    }
                    Kind::RawTx { foreign, .. } => {
                        let foreign = db.ctx(*foreign);
                        let outcome = async {
                            let tx = db.pools.begin(ctx).await?;
                            raw_tx(tx, ctx, &op.kind, &foreign, Mode::Predicates, check).await
                        }
                        .await;
                        return (outcome.unwrap_or_else(|e| Outcome::Err(err_kind(&e))), None);
                    }
                    _ => {}
                }
                if !op.in_tx {
                    if let Kind::Checked(query) = &op.kind {
                        return match db.pools.pool(ctx) {
                            Ok(pool) => (checked(&pool, ctx, query, check).await, None),
                            Err(e) => err(e),
                        };
                    }
                    // A routed handle is read-only: a write outside a transaction of the
                    // program is one of its own, fenced.
                    if is_read(&op.kind) {
                        return match db.pools.route(ctx) {
                            Ok(routed) => read(routed, ctx, &op.kind, cursor, check).await,
                            Err(e) => err(e),
                        };
                    }
                }
                let mut tx = match db.pools.begin(ctx).await {
                    Ok(tx) => tx,
                    Err(e) => return err(e),
                };
                let out = match &op.kind {
                    Kind::Checked(query) => (checked(&mut tx, ctx, query, check).await, None),
                    kind => exec(&mut tx, ctx, kind, cursor, check).await,
                };
                let done = if matches!(out.0, Outcome::Err(_)) {
                    tx.rollback().await
                } else {
                    tx.commit().await
                };
                match done {
                    Ok(()) => out,
                    Err(e) => err(e),
                }
            }

            /// A raw-SQL op in `tx`, the tenant's transaction. With row-level security the
            /// read names no tenant: the policy alone must narrow it; with a schema per tenant
            /// it names none either: the search path alone must narrow it.
            pub(super) async fn raw_tx(
                mut tx: TenantTx<Db>,
                ctx: &TenantCtx,
                kind: &Kind,
                foreign_ctx: &TenantCtx,
                mode: Mode,
                check: &mut Check<'_>,
            ) -> Result<Outcome, Error> {
                let Kind::RawTx { insert, commit, .. } = kind else {
                    unreachable!()
                };
                let bare = mode != Mode::Predicates;
                let mut inserted = None;
                if let Some(row) = insert {
                    let result = tx.repo::<Item>().insert(ctx, new_item(row)).await;
                    match result {
                        Ok(item) => inserted = Some(Ok(check.item(item))),
                        Err(e) => {
                            tx.rollback().await?;
                            return Ok(Outcome::Raw {
                                insert: Some(Err(err_kind(&e))),
                                ids: Vec::new(),
                                foreign_rows: None,
                                foreign_insert_refused: None,
                            });
                        }
                    }
                }
                // With row-level security or a schema per tenant, what an application's raw
                // SQL would say: every row of the table, no tenant named. Without either, the
                // tenant is named by hand.
                let rows = if bare {
                    sqlx::query("SELECT * FROM leak_items")
                        .fetch_all(tx.executor())
                        .await?
                } else {
                    sqlx::query($own_rows)
                        .bind(ctx.tenant_id().as_str())
                        .fetch_all(tx.executor())
                        .await?
                };
                let mut ids = Vec::with_capacity(rows.len());
                for row in rows {
                    use sqlx::Row as _;
                    let tenant: String = row.try_get("tenant_id")?;
                    check.tenant(&tenant.parse().expect("a tenant id"));
                    ids.push(row.try_get::<i64, _>("id")?);
                }
                ids.sort_unstable();
                let (mut foreign_rows, mut foreign_insert_refused) = (None, None);
                if bare {
                    // Another tenant's rows by raw SQL. With a schema per tenant the count
                    // reads this tenant's schema (the other's is not on the search path), so
                    // it must find none of the other's rows; and the insert in the other's name
                    // lands, if anywhere, in this tenant's schema, where the tenant-led foreign
                    // key refuses it (23503): the schema holds no group of the other tenant.
                    // That refusal is the foreign key's, not a policy's (a schema per tenant
                    // has none); what matters is that nothing reaches the other's schema.
                    let refusal = match mode {
                        Mode::Schema => "23503",
                        Mode::Predicates | Mode::Rls => "42501",
                    };
                    foreign_rows = Some(
                        sqlx::query_scalar($crate::FOREIGN_COUNT)
                            .bind(foreign_ctx.tenant_id().as_str())
                            .fetch_one(tx.executor())
                            .await?,
                    );
                    // In a savepoint: the refusal must not abort the tenant's transaction. By
                    // hand: a `TenantTx` hands out no `&mut Connection` to begin one on.
                    sqlx::raw_sql("SAVEPOINT foreign_insert")
                        .execute(tx.executor())
                        .await?;
                    let attempt = sqlx::query($crate::FOREIGN_INSERT)
                        .bind(foreign_ctx.tenant_id().as_str())
                        .execute(tx.executor())
                        .await;
                    sqlx::raw_sql("ROLLBACK TO SAVEPOINT foreign_insert")
                        .execute(tx.executor())
                        .await?;
                    foreign_insert_refused = Some(match attempt {
                        Err(sqlx::Error::Database(e)) => e.code().as_deref() == Some(refusal),
                        _ => false,
                    });
                }
                if *commit {
                    tx.commit().await?;
                } else {
                    tx.rollback().await?;
                }
                Ok(Outcome::Raw {
                    insert: inserted,
                    ids,
                    foreign_rows,
                    foreign_insert_refused,
                })
            }
        }
    };
}

/// Used with row-level security and a schema per tenant only (PostgreSQL).
const FOREIGN_COUNT: &str = "SELECT count(*) FROM leak_items WHERE tenant_id = $1";
const FOREIGN_INSERT: &str = "INSERT INTO leak_items (tenant_id, id, code, label, amount, note, group_id) \
     VALUES ($1, 1000000, 'x', 'x', 0, NULL, 1)";

backend!(
    on_sqlite,
    sqlx::Sqlite,
    "SELECT * FROM leak_items WHERE tenant_id = ?"
);
backend!(
    on_postgres,
    sqlx::Postgres,
    "SELECT * FROM leak_items WHERE tenant_id = $1"
);

/// One difference between the model and the database.
#[derive(Debug, Clone)]
struct Mismatch {
    index: usize,
    op: Op,
    expected: Outcome,
    actual: Outcome,
    leaks: u64,
}

impl Mismatch {
    fn describe(&self) -> String {
        format!(
            "op #{}: {:?}\n  model:    {:?}\n  database: {:?}\n  rows of another tenant returned: {}",
            self.index, self.op, self.expected, self.actual, self.leaks
        )
    }
}

/// What the model expected, by class: shows the search reaches errors and non-empty results,
/// not only empty reads.
fn outcome_class(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Err(ErrKind::Conflict) => "error_conflict",
        Outcome::Err(ErrKind::ForeignKey) => "error_foreign_key",
        Outcome::Err(ErrKind::Cursor) => "error_cursor",
        Outcome::Err(ErrKind::EmptyPatch) => "error_empty_patch",
        Outcome::Err(ErrKind::NoTable) => "error_no_table",
        Outcome::Err(ErrKind::Other(_)) => "error_other",
        Outcome::Raw {
            insert: Some(Err(_)),
            ..
        } => "raw_insert_refused",
        Outcome::Row(None) | Outcome::Count(0) | Outcome::Bool(false) => "empty",
        Outcome::Rows(rows) | Outcome::Page { rows, .. } if rows.is_empty() => "empty",
        Outcome::Pairs(pairs) if pairs.is_empty() => "empty",
        Outcome::Move(_) => "move",
        _ => "non_empty",
    }
}

/// What a run did (the kit's counts) and where the model and the database differed.
#[derive(Debug, Default)]
struct Report {
    counts: Counts,
    mismatches: Vec<Mismatch>,
    /// The items the model holds at the end, every tenant together.
    model_items: u64,
    /// With two placements: the items over both databases at the end, when they are not the
    /// model's (a row lost or kept twice by a move), or the error of counting them.
    total_differs: Option<Result<u64, String>>,
}

impl Report {
    fn merge(&mut self, other: Report) {
        self.counts.merge(&other.counts);
        self.mismatches.extend(other.mismatches);
        self.model_items += other.model_items;
    }

    fn failed(&self) -> bool {
        self.counts.leaks > 0 || !self.mismatches.is_empty() || self.total_differs.is_some()
    }
}

/// Runs one task's ops (those of the tenants `t % TASKS == task`), in program order.
async fn run_task(
    db: Db,
    ops: Vec<(usize, Op)>,
    mutant: Option<Mutant>,
    stop: Arc<AtomicBool>,
) -> Report {
    let mode = db.mode();
    let mut states: HashMap<usize, State> = HashMap::new();
    let mut cursors: Cursors = HashMap::new();
    let mut report = Report::default();
    for (index, op) in ops {
        if stop.load(AtomicOrdering::Relaxed) {
            break;
        }
        let t = op.tenant;
        let ctx = db.ctx(t);
        let mut cross = op.cross;
        // The cursor this page op is given, and what the model makes of it.
        let (given, model_cursor) = match &op.kind {
            Kind::Page { spec, after, .. } => {
                let stored = match *after {
                    After::Start => None,
                    After::Own => cursors.get(&(t, *spec)).map(|(c, row)| (c, Ok(row))),
                    After::OtherSpec(other) if other != *spec => {
                        cursors.get(&(t, other)).map(|(c, _)| (c, Err(())))
                    }
                    After::OtherSpec(_) => None,
                    After::Foreign(owner) => {
                        cursors.get(&(owner, *spec)).map(|(c, _)| (c, Err(())))
                    }
                };
                if matches!(stored, Some((_, Err(())))) && matches!(after, After::Foreign(_)) {
                    cross = true;
                }
                match stored {
                    Some((cursor, model)) => (Some(cursor.clone()), Some(model.cloned())),
                    None => (None, None),
                }
            }
            _ => (None, None),
        };
        let state = states.entry(t).or_default();
        let expected = predict(
            state,
            &op,
            mode,
            model_cursor.as_ref().map(|m| m.as_ref().map_err(|_| ())),
            mutant,
        );
        let mut check = Check {
            tenant: ctx.tenant_id(),
            leaks: 0,
        };
        let (actual, next) = execute(&db, &ctx, &op, given, &mut check).await;
        if let Kind::Page { spec, .. } = &op.kind {
            match (&expected, next) {
                (Outcome::Page { rows, more: true }, Some(cursor)) => {
                    let last = rows.last().expect("a page with more has rows").clone();
                    cursors.insert((t, *spec), (cursor, last));
                }
                (Outcome::Page { .. }, _) => {
                    cursors.remove(&(t, *spec));
                }
                // A refused cursor leaves the listing where it was.
                _ => {}
            }
        }
        // With row-level security or a schema per tenant, raw SQL read and wrote another
        // tenant's rows.
        cross |= matches!(
            expected,
            Outcome::Raw {
                foreign_rows: Some(_),
                ..
            }
        );
        report
            .counts
            .op(op.kind.name(), outcome_class(&expected), cross);
        if matches!(model_cursor, Some(Ok(_))) {
            *report
                .counts
                .outcomes
                .entry("page_after_own_cursor")
                .or_default() += 1;
        }
        report.counts.leaks += check.leaks;
        if actual != expected || check.leaks > 0 {
            report.mismatches.push(Mismatch {
                index,
                op,
                expected,
                actual,
                leaks: check.leaks,
            });
            stop.store(true, AtomicOrdering::Relaxed);
            break;
        }
    }
    report.model_items = states.values().map(|state| state.len() as u64).sum();
    report
}

async fn execute(
    db: &Db,
    ctx: &TenantCtx,
    op: &Op,
    cursor: GivenCursor,
    check: &mut Check<'_>,
) -> (Outcome, Option<Cursor<Item>>) {
    let foreign = match &op.kind {
        Kind::RawTx { foreign, .. } => Some(db.ctx(*foreign)),
        _ => None,
    };
    let as_outcome =
        |r: Result<Outcome, Error>| (r.unwrap_or_else(|e| Outcome::Err(err_kind(&e))), None);
    match db {
        Db::SqlitePlaced(placed) => {
            on_sqlite::through_pool_set(placed, ctx, op, cursor, check).await
        }
        Db::PostgresPlaced(placed) => {
            on_postgres::through_pool_set(placed, ctx, op, cursor, check).await
        }
        Db::Sqlite(pool, _) => {
            if let Some(foreign) = &foreign {
                return as_outcome(
                    async {
                        let tx = TenantTx::begin(pool, ctx).await?;
                        on_sqlite::raw_tx(tx, ctx, &op.kind, foreign, Mode::Predicates, check).await
                    }
                    .await,
                );
            }
            if !op.in_tx {
                if let Kind::Checked(checked) = &op.kind {
                    return (on_sqlite::checked(pool, ctx, checked, check).await, None);
                }
                return on_sqlite::exec(pool, ctx, &op.kind, cursor, check).await;
            }
            let mut tx = match TenantTx::begin(pool, ctx).await {
                Ok(tx) => tx,
                Err(e) => return (Outcome::Err(err_kind(&e)), None),
            };
            let out = match &op.kind {
                Kind::Checked(checked) => {
                    (on_sqlite::checked(&mut tx, ctx, checked, check).await, None)
                }
                kind => on_sqlite::exec(&mut tx, ctx, kind, cursor, check).await,
            };
            let done = if matches!(out.0, Outcome::Err(_)) {
                tx.rollback().await
            } else {
                tx.commit().await
            };
            match done {
                Ok(()) => out,
                Err(e) => (Outcome::Err(err_kind(&e)), None),
            }
        }
        Db::Postgres(pool) | Db::Rls(pool) | Db::Schema(pool, _) => {
            let mode = db.mode();
            // With a schema per tenant, the tenant's transaction has its schema as the search
            // path; otherwise it only carries the tenant (and its setting, for the policies).
            let begin = async || match mode {
                Mode::Schema => TenantTx::begin_in_schema(pool, ctx).await,
                Mode::Predicates => TenantTx::begin(pool, ctx).await,
                Mode::Rls => support::row_security().begin(pool, ctx).await,
            };
            if let Some(foreign) = &foreign {
                return as_outcome(
                    async {
                        let tx = begin().await?;
                        on_postgres::raw_tx(tx, ctx, &op.kind, foreign, mode, check).await
                    }
                    .await,
                );
            }
            // With row-level security or a schema per tenant every op needs its tenant's
            // transaction, but one: the unbound count, which must then see nothing.
            let in_tx = match mode {
                Mode::Predicates => op.in_tx,
                Mode::Rls | Mode::Schema => !matches!(op.kind, Kind::Unbound),
            };
            if !in_tx {
                if let Kind::Checked(checked) = &op.kind {
                    return (on_postgres::checked(pool, ctx, checked, check).await, None);
                }
                return on_postgres::exec(pool, ctx, &op.kind, cursor, check).await;
            }
            let mut tx = match begin().await {
                Ok(tx) => tx,
                Err(e) => return (Outcome::Err(err_kind(&e)), None),
            };
            let out = match &op.kind {
                Kind::Checked(checked) => (
                    on_postgres::checked(&mut tx, ctx, checked, check).await,
                    None,
                ),
                kind => on_postgres::exec(&mut tx, ctx, kind, cursor, check).await,
            };
            let done = if matches!(out.0, Outcome::Err(_)) {
                tx.rollback().await
            } else {
                tx.commit().await
            };
            match done {
                Ok(()) => out,
                Err(e) => (Outcome::Err(err_kind(&e)), None),
            }
        }
    }
}

/// Runs `ops` on a fresh database of `kind`, `TASKS` tasks at once, each owning the tenants
/// `t % TASKS == task`. `None` when the backend is not configured.
async fn run(kind: BackendKind, ops: &[Op], mutant: Option<Mutant>) -> Option<Report> {
    let db = fresh(kind).await?;
    let stop = Arc::new(AtomicBool::new(false));
    let reports = tenant_testkit::run_partitioned(
        ops,
        TASKS,
        |op| op.tenant,
        |ops| run_task(db.clone(), ops, mutant, stop.clone()),
    )
    .await;
    let mut report = Report::default();
    for other in reports {
        report.merge(other);
    }
    report.mismatches.sort_by_key(|m| m.index);
    if report.mismatches.is_empty() {
        let total = match &db {
            Db::SqlitePlaced(placed) => Some(placed.total_items().await),
            Db::PostgresPlaced(placed) => Some(placed.total_items().await),
            _ => None,
        };
        report.total_differs = match total {
            Some(Ok(n)) if n == report.model_items => None,
            Some(other) => Some(other.map_err(|e| e.to_string())),
            None => None,
        };
    }
    db.close().await;
    Some(report)
}

/// The shortest failing program found from `ops` (which fails): the kit's shrinker (the prefix
/// up to the first difference, then the failing tenant's ops alone, then delta debugging), each
/// candidate run on a fresh database. Gives up refining after `budget` runs.
async fn shrink(
    kind: BackendKind,
    ops: Vec<Op>,
    first: &Mismatch,
    mutant: Option<Mutant>,
    budget: usize,
) -> (Vec<Op>, usize) {
    let tenant = first.op.tenant;
    tenant_testkit::shrink(
        ops,
        first.index,
        |op: &Op| op.tenant == tenant,
        budget,
        async |candidate: &[Op]| {
            run(kind, candidate, mutant)
                .await
                .is_some_and(|r| r.failed())
        },
    )
    .await
}

/// Generates, runs, reports; on a failure shrinks and panics with the seed and the shortest
/// failing sequence.
async fn search(kind: BackendKind) {
    let seed = tenant_testkit::seed();
    let is_placed = matches!(
        kind,
        BackendKind::SqlitePlaced | BackendKind::PostgresPlaced(_)
    );
    let (n, size_var) = if is_placed {
        (placed::ops(), "TENANT_LEAK_PLACED_OPS")
    } else {
        (tenant_testkit::ops_from_env(2_000), "TENANT_LEAK_OPS")
    };
    let mut ops = generate(seed, n);
    if is_placed {
        ops = placed::with_moves(ops, seed);
    }
    let started = Instant::now();
    let Some(report) = run(kind, &ops, None).await else {
        return;
    };
    let elapsed = started.elapsed();
    println!(
        "leak_search {kind:?}: seed={seed} tenants={TENANTS} tasks={TASKS} ops={} \
         cross_tenant={} leaks={} differences={} items={} total_differs={:?} time={:.1}s\n  {}",
        report.counts.ops,
        report.counts.cross,
        report.counts.leaks,
        report.mismatches.len(),
        report.model_items,
        report.total_differs,
        elapsed.as_secs_f64(),
        report.counts
    );
    if let Some(total) = &report.total_differs {
        panic!(
            "{kind:?}: every op agreed, but the databases hold {total:?} items where the model \
             holds {} (a row lost or kept twice). Seed {seed} ({size_var}={n}).",
            report.model_items
        );
    }
    if let Some(first) = report.mismatches.first() {
        let (shrunk, runs) = shrink(kind, ops.clone(), first, None, 400).await;
        let last = run(kind, &shrunk, None).await.expect("configured");
        panic!(
            "{kind:?}: the model and the database differ (leaks: {}). Seed {seed} \
             (TENANT_LEAK_SEED={seed} {size_var}={n}).\nfirst difference: {}\n\
             shortest failing sequence ({} ops, {runs} shrink runs):\n{}\nits difference: {}",
            report.counts.leaks,
            first.describe(),
            shrunk.len(),
            shrunk
                .iter()
                .map(|op| format!("  {op:?}"))
                .collect::<Vec<_>>()
                .join("\n"),
            last.mismatches
                .first()
                .map_or_else(|| "none (a flaky failure?)".to_owned(), Mismatch::describe)
        );
    }
    assert_eq!(report.counts.ops as usize, ops.len(), "every op ran");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_model_and_database_agree() {
    search(BackendKind::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_model_and_database_agree() {
    search(BackendKind::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_row_level_security_model_and_database_agree() {
    search(BackendKind::PostgresRls).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_schema_per_tenant_model_and_database_agree() {
    search(BackendKind::PostgresSchema).await;
}

/// Two SQLite files behind a pool set, the tenants spread over both, tenants moved between
/// them in the middle of the program (see `placed`).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_two_placements_with_moves_model_and_database_agree() {
    search(BackendKind::SqlitePlaced).await;
}

/// The same on two private PostgreSQL servers on their own ports (test-support's `PgServer`),
/// the moves' copy and verification by `TenantCopy` as the workflow's.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_two_servers_with_moves_model_and_database_agree() {
    let test = "leak_search over two PostgreSQL servers";
    let Some(main) = support::PgServer::new(test) else {
        return;
    };
    let Some(eu) = support::PgServer::new(test) else {
        return;
    };
    // `BackendKind` is `Copy`: the URLs live as long as the process, the servers as the test.
    let urls: &'static [String; 2] = Box::leak(Box::new([main.url(), eu.url()]));
    search(BackendKind::PostgresPlaced(urls)).await;
}

/// The shrinker at work on a known bug: a model that forgets deletes is caught, and the
/// failing program shrinks to a handful of ops that still fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_mutant_model_is_caught_and_shrunk_to_a_handful_of_ops() {
    mutant_is_caught_and_shrunk(BackendKind::Sqlite).await;
}

/// The same with a schema per tenant: every shrink candidate on its own fresh schemas (and
/// none left behind).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_mutant_model_is_caught_and_shrunk_with_a_schema_per_tenant() {
    mutant_is_caught_and_shrunk(BackendKind::PostgresSchema).await;
}

async fn mutant_is_caught_and_shrunk(kind: BackendKind) {
    let mutant = Some(Mutant::ForgetsDeletes);
    let ops = generate(7, 2_000);
    let Some(report) = run(kind, &ops, mutant).await else {
        return;
    };
    let first = report.mismatches.first().expect("the mutant is caught");
    assert_eq!(report.counts.leaks, 0, "a wrong model is not a leak");
    let (shrunk, runs) = shrink(kind, ops, first, mutant, 400).await;
    println!(
        "mutant on {kind:?}: shrunk to {} ops in {runs} runs: {shrunk:#?}",
        shrunk.len()
    );
    assert!(
        shrunk.len() <= 4,
        "shrunk to {} ops: {shrunk:#?}",
        shrunk.len()
    );
    assert!(
        shrunk.iter().any(|op| matches!(op.kind, Kind::Delete(_))),
        "the delete the mutant forgets is kept"
    );
    let again = run(kind, &shrunk, mutant).await.unwrap();
    assert!(again.failed(), "the shrunk program still fails");
    let correct = run(kind, &shrunk, None).await.unwrap();
    assert!(!correct.failed(), "and passes against the correct model");
}
