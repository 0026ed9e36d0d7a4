//! The model: rows, filters, orders and operations as the test sees them, and what it
//! predicts for each op, written with none of the crate's code.

use super::*;

/// A row without its tenant: the model keeps one map per tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Row {
    pub(crate) id: i64,
    pub(crate) code: String,
    pub(crate) label: String,
    pub(crate) amount: i64,
    pub(crate) note: Option<String>,
    pub(crate) group: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Patch {
    pub(crate) code: Option<String>,
    pub(crate) label: Option<String>,
    pub(crate) amount: Option<i64>,
    pub(crate) note: Option<Option<String>>,
    pub(crate) group: Option<i64>,
}

impl Patch {
    pub(crate) fn is_empty(&self) -> bool {
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
pub(crate) enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    pub(crate) fn holds<T: Ord + ?Sized>(self, a: &T, b: &T) -> bool {
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
pub(crate) enum F {
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

    pub(crate) fn matches(&self, row: &Row) -> bool {
        self.eval(row) == Some(true)
    }

    pub(crate) fn to_filter(&self) -> Filter<Item> {
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
pub(crate) enum Col {
    Id,
    Code,
    Label,
    Amount,
}

/// An order as given: columns and whether descending.
pub(crate) type OrderSpec = Vec<(Col, bool)>;

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

pub(crate) fn compare(order: &[(Col, bool)], a: &Row, b: &Row) -> std::cmp::Ordering {
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

pub(crate) fn to_order(order: &[(Col, bool)]) -> Order<Item> {
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
pub(crate) enum After {
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
pub(crate) enum Kind {
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
pub(crate) enum CheckedOp {
    /// Items with an amount of at least this, each with its group's name, by id.
    JoinAtLeast(i64),
    /// Rows of the groups LEFT JOIN their items.
    LeftJoinCount,
    /// `amount = amount + delta` of the item with this key.
    AddAmount(i64, i64),
}

impl Kind {
    pub(crate) fn name(&self) -> &'static str {
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
pub(crate) struct Op {
    pub(crate) tenant: usize,
    /// Run inside a `TenantTx` (always, with row-level security).
    pub(crate) in_tx: bool,
    /// Names another tenant's key, unique value, group or label (as the generator saw them).
    pub(crate) cross: bool,
    pub(crate) kind: Kind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
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
pub(crate) enum Mutant {
    /// Predicts a delete's count but keeps the row.
    ForgetsDeletes,
}

/// How a backend keeps tenants apart, as far as the model must know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
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
pub(crate) type State = BTreeMap<i64, Row>;

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
pub(crate) type Cursors = HashMap<(usize, usize), (Cursor<Item>, Row)>;

/// What the model predicts for `op` on tenant `t`'s `state`, updating it on success. `cursor`
/// is what the page op will be given (`Some(Ok(row))` an own cursor after `row`,
/// `Some(Err(()))` a cursor that must be refused).
pub(crate) fn predict(
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

pub(crate) static PAGE_SPECS: std::sync::LazyLock<Vec<(F, OrderSpec)>> =
    std::sync::LazyLock::new(page_specs);
