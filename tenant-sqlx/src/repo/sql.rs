//! Every statement a repository runs, built with sea-query. Each is rendered once per dialect
//! and cached (see `cache.rs`); the placeholders are bound by the caller in the order the
//! functions here document.

use sea_query::{
    ColumnDef, ColumnType, Expr, ExprTrait, ForeignKey, Func, Index, Order, Query, Table,
};

use super::dialect::Dialect;
use super::meta::{ColumnMeta, ColumnRole, EntityMeta};
use super::shape::{Dir, Node, Op, Term};

/// Placeholder value: only the rendered SQL text is kept, the values are bound at call time.
fn slot() -> Expr {
    Expr::val(0i64)
}

fn select_columns(meta: &EntityMeta) -> sea_query::SelectStatement {
    let mut select = Query::select();
    select
        .columns(meta.columns.iter().map(|c| c.name))
        .from(meta.table);
    select
}

/// Binds: tenant, key.
pub(crate) fn get(meta: &EntityMeta, dialect: Dialect) -> String {
    let mut select = select_columns(meta);
    select
        .and_where(Expr::col(meta.tenant_column()).eq(slot()))
        .and_where(Expr::col(meta.key_column()).eq(slot()));
    dialect.render(&select)
}

/// Binds: tenant.
pub(crate) fn list(meta: &EntityMeta, dialect: Dialect) -> String {
    filtered(meta, dialect, Filtered::Rows, &[])
}

/// What a filtered statement returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Filtered {
    /// Every column of the matching rows, ordered by key.
    Rows,
    /// How many rows match.
    Count,
    /// One row (`SELECT 1 .. LIMIT 1`) if any matches.
    Exists,
}

/// Binds: the filter's values in the order of its leaves, then tenant. (The tenant comes last so
/// the filter's values convert into arguments in one go and the tenant id is bound by reference
/// after them.) The tenant predicate is ANDed outside the filter: no `or` in it can reach
/// another tenant's rows.
pub(crate) fn filtered(
    meta: &EntityMeta,
    dialect: Dialect,
    kind: Filtered,
    shape: &[Node],
) -> String {
    let mut select = match kind {
        Filtered::Rows => select_columns(meta),
        Filtered::Count => {
            let mut select = Query::select();
            select
                .expr(Func::count(Expr::col(meta.key_column())))
                .from(meta.table);
            select
        }
        Filtered::Exists => {
            let mut select = Query::select();
            // A constant, not a value: a value would be a placeholder nobody binds.
            select.expr(Expr::cust("1")).from(meta.table);
            select
        }
    };
    if let Some(condition) = condition(meta, shape) {
        select.and_where(condition);
    }
    select.and_where(Expr::col(meta.tenant_column()).eq(slot()));
    match kind {
        Filtered::Rows => {
            select.order_by(meta.key_column(), Order::Asc);
            dialect.render(&select)
        }
        Filtered::Count => dialect.render(&select),
        // sea-query renders a limit as a placeholder; this one is a constant.
        Filtered::Exists => format!("{} LIMIT 1", dialect.render(&select)),
    }
}

/// The filter's condition, built from its postfix nodes; `None` for an empty filter.
fn condition(meta: &EntityMeta, shape: &[Node]) -> Option<Expr> {
    condition_of(meta, shape, None)
}

/// The column at `index` of `meta`, qualified by `alias` if given (in a join).
fn column_of(meta: &EntityMeta, index: usize, alias: Option<&'static str>) -> Expr {
    let name = meta.columns[index].name;
    match alias {
        Some(alias) => Expr::col((alias, name)),
        None => Expr::col(name),
    }
}

/// [`condition`], its columns qualified by `alias` if given; `None` for an empty filter.
fn condition_of(meta: &EntityMeta, shape: &[Node], alias: Option<&'static str>) -> Option<Expr> {
    if shape.is_empty() {
        return None;
    }
    // `Filter`'s combinators only build well-formed sequences; were one malformed anyway, the
    // filter matches nothing rather than being dropped (which would match everything).
    Some(build(meta, shape, alias).unwrap_or_else(|| Expr::cust("1 = 0")))
}

/// The condition of a non-empty postfix sequence; `None` if it is malformed.
fn build(meta: &EntityMeta, shape: &[Node], alias: Option<&'static str>) -> Option<Expr> {
    let mut stack: Vec<Expr> = Vec::with_capacity(shape.len());
    for &node in shape {
        let expr = match node {
            Node::Cmp(column, op) => {
                let column = column_of(meta, column, alias);
                match op {
                    Op::Eq => column.eq(slot()),
                    Op::Ne => column.ne(slot()),
                    Op::Lt => column.lt(slot()),
                    Op::Le => column.lte(slot()),
                    Op::Gt => column.gt(slot()),
                    Op::Ge => column.gte(slot()),
                    Op::Like => column.like(sea_query::LikeExpr::new("").escape('\\')),
                }
            }
            // `IN ()` is not SQL; no values match nothing.
            Node::In(_, 0) => Expr::cust("1 = 0"),
            Node::In(column, n) => column_of(meta, column, alias).is_in((0..n).map(|_| 0i64)),
            Node::IsNull(column) => column_of(meta, column, alias).is_null(),
            Node::And | Node::Or => {
                // Built by `Filter`'s own combinators: two operands are always there.
                let right = stack.pop()?;
                let left = stack.pop()?;
                if node == Node::And {
                    left.and(right)
                } else {
                    left.or(right)
                }
            }
            Node::Not => stack.pop()?.not(),
        };
        stack.push(expr);
    }
    let condition = stack.pop()?;
    stack.is_empty().then_some(condition)
}

/// What an ordered statement returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Ordered {
    /// The matching rows in order, with `LIMIT ?` and `OFFSET ?` if asked. An offset comes with
    /// a limit (SQLite has no OFFSET without LIMIT): bind `i64::MAX` for none.
    Rows { limit: bool, offset: bool },
    /// A keyset page: the matching rows in order, `LIMIT ?`, and if `after`, only the rows after
    /// a cursor's values.
    Keyset { after: bool },
}

/// Binds: the filter's values in the order of its leaves; for a keyset page after a cursor,
/// the cursor's values as [`keyset`] takes them; then tenant; then the limit and the offset
/// when the statement has them. Every predicate, the keyset's included, is ANDed with the
/// tenant's, which stays outside the keyset's OR chain like it stays outside the filter.
pub(crate) fn ordered(
    meta: &EntityMeta,
    dialect: Dialect,
    kind: Ordered,
    order: &[Term],
    shape: &[Node],
) -> String {
    let mut select = select_columns(meta);
    if let Some(condition) = condition(meta, shape) {
        select.and_where(condition);
    }
    if kind == (Ordered::Keyset { after: true }) {
        keyset(meta, order, &mut select);
    }
    select.and_where(Expr::col(meta.tenant_column()).eq(slot()));
    for term in order {
        let dir = match term.dir {
            Dir::Asc => Order::Asc,
            Dir::Desc => Order::Desc,
        };
        select.order_by(meta.columns[term.column].name, dir);
    }
    // The numbers are placeholders: sea-query renders a limit and an offset as values.
    match kind {
        Ordered::Rows { limit, offset } => {
            if limit || offset {
                select.limit(0);
            }
            if offset {
                select.offset(0);
            }
        }
        Ordered::Keyset { .. } => {
            select.limit(0);
        }
    }
    dialect.render(&select)
}

/// The rows after a cursor's values `v1..vn` in `order` (c1, .., cn; the key last), in the
/// row-value-free form both dialects plan alike: `(c1 > v1) OR (c1 = v1 AND c2 > v2) OR ..`,
/// with `<` for descending columns. With more than one column it is preceded by `c1 >= v1`
/// (`<=` descending), implied by the chain but a range an index on (tenant, c1) can seek to,
/// where the OR chain alone would scan the tenant's rows from the start.
///
/// Binds: with more than one column, v1; then, for each column i in order, v1..vi.
fn keyset(meta: &EntityMeta, order: &[Term], select: &mut sea_query::SelectStatement) {
    let column = |term: &Term| Expr::col(meta.columns[term.column].name);
    let after = |term: &Term| match term.dir {
        Dir::Asc => column(term).gt(slot()),
        Dir::Desc => column(term).lt(slot()),
    };
    if let [first, _, ..] = order {
        select.and_where(match first.dir {
            Dir::Asc => column(first).gte(slot()),
            Dir::Desc => column(first).lte(slot()),
        });
    }
    // Expressions, not `Condition`s: sea-query panics when `cond_where` and `and_where` mix.
    let chain = (0..order.len())
        .map(|i| {
            order[..i]
                .iter()
                .map(|term| column(term).eq(slot()))
                .chain(std::iter::once(after(&order[i])))
                .reduce(|left, right| left.and(right))
        })
        .reduce(|left, right| Some(left?.or(right?)));
    if let Some(Some(chain)) = chain {
        select.and_where(chain);
    }
}

/// Binds: tenant.
pub(crate) fn count(meta: &EntityMeta, dialect: Dialect) -> String {
    let mut select = Query::select();
    select
        .expr(Func::count(Expr::col(meta.key_column())))
        .from(meta.table)
        .and_where(Expr::col(meta.tenant_column()).eq(slot()));
    dialect.render(&select)
}

/// The alias of the child's table in [`with_parent`].
const CHILD: &str = "child";
/// The alias of the parent's table in [`with_parent`].
const PARENT: &str = "parent";

/// Binds: the filter's values in the order of its leaves, then tenant, tenant. Every column of
/// the child (`meta`), then every column of its parent, of the children of `ctx`'s tenant that
/// satisfy the filter and have a parent through the `#[belongs_to]` column `column`, ordered by
/// the child's key:
///
/// `SELECT child.*, parent.* FROM <child> AS child JOIN <parent> AS parent ON parent.tenant =
/// child.tenant AND parent.key = child.<column> WHERE (<filter>) AND child.tenant = ? AND
/// parent.tenant = ?`
///
/// Both sides carry the tenant predicate: the join condition alone would already keep a pair
/// within one tenant, and the second predicate keeps it so even if the join were edited.
pub(crate) fn with_parent(
    meta: &EntityMeta,
    parent: &EntityMeta,
    dialect: Dialect,
    column: usize,
    shape: &[Node],
) -> String {
    let mut select = Query::select();
    select
        .columns(meta.columns.iter().map(|c| (CHILD, c.name)))
        .columns(parent.columns.iter().map(|c| (PARENT, c.name)))
        .from_as(meta.table, CHILD)
        .join_as(
            sea_query::JoinType::InnerJoin,
            parent.table,
            PARENT,
            Expr::col((PARENT, parent.tenant_column()))
                .equals((CHILD, meta.tenant_column()))
                .and(
                    Expr::col((PARENT, parent.key_column()))
                        .equals((CHILD, meta.columns[column].name)),
                ),
        );
    if let Some(condition) = condition_of(meta, shape, Some(CHILD)) {
        select.and_where(condition);
    }
    select
        .and_where(Expr::col((CHILD, meta.tenant_column())).eq(slot()))
        .and_where(Expr::col((PARENT, parent.tenant_column())).eq(slot()))
        .order_by((CHILD, meta.key_column()), Order::Asc);
    dialect.render(&select)
}

/// The columns of an INSERT: the tenant, then those `New<Entity>` gives values to (see
/// [`EntityMeta::inserted`]).
fn insert_columns(meta: &EntityMeta) -> Vec<&'static str> {
    std::iter::once(meta.tenant_column())
        .chain(meta.inserted().map(|c| c.name))
        .collect()
}

/// `RETURNING` every column, in the order of a SELECT.
fn returning_all(meta: &EntityMeta) -> sea_query::ReturningClause {
    Query::returning().columns(meta.columns.iter().map(|c| c.name))
}

/// Binds: tenant, then the columns `New<Entity>` gives values to, in field order (every
/// non-tenant column but a generated key and the columns with a database default). When the
/// database fills a column, the statement ends in `RETURNING` every column, so the caller gets
/// the row as stored; otherwise the row is known without reading it back.
pub(crate) fn insert(meta: &EntityMeta, dialect: Dialect) -> String {
    let columns = insert_columns(meta);
    let mut insert = Query::insert();
    insert
        .into_table(meta.table)
        .columns(columns.iter().copied())
        .values_panic(columns.iter().map(|_| slot()));
    if meta.returns_on_insert() {
        insert.returning(returning_all(meta));
    }
    dialect.render(&insert)
}

/// Binds, for each of `rows` rows in turn: tenant, then the columns of [`insert`]. One multi-row
/// `VALUES`; nothing is returned but the count. sea-query renders the statement with one row,
/// and the other rows' tuples are appended here: through sea-query's builder, each row is a
/// vector of expressions to build and print, by hand a few bytes to push.
pub(crate) fn insert_many(meta: &EntityMeta, dialect: Dialect, rows: usize) -> String {
    let columns = insert_columns(meta).len();
    let one = insert_values(meta, dialect);
    let mut first = String::new();
    push_tuple(&mut first, dialect, 1, columns);
    let Some(head) = one.strip_suffix(&first) else {
        unreachable!("sea-query ends a one-row INSERT with its tuple: {one}")
    };
    // `($123, $124), ` is at most 2 + columns * (1 + 10 + 2) bytes per row.
    let mut sql = String::with_capacity(one.len() + rows * (4 + columns * 13));
    sql.push_str(head);
    for row in 0..rows {
        if row > 0 {
            sql.push_str(", ");
        }
        push_tuple(&mut sql, dialect, row * columns + 1, columns);
    }
    sql
}

/// The one-row INSERT without RETURNING that [`insert_many`] extends.
fn insert_values(meta: &EntityMeta, dialect: Dialect) -> String {
    let columns = insert_columns(meta);
    let mut insert = Query::insert();
    insert
        .into_table(meta.table)
        .columns(columns.iter().copied())
        .values_panic(columns.iter().map(|_| slot()));
    dialect.render(&insert)
}

/// `(?, ?)` or `($first, $first + 1)`: one row of `columns` placeholders, as sea-query prints them.
fn push_tuple(sql: &mut String, dialect: Dialect, first: usize, columns: usize) {
    sql.push('(');
    for column in 0..columns {
        if column > 0 {
            sql.push_str(", ");
        }
        match dialect {
            Dialect::Sqlite => sql.push('?'),
            Dialect::Postgres => {
                sql.push('$');
                push_number(sql, first + column);
            }
        }
    }
    sql.push(')');
}

/// `n` in decimal, without the formatting machinery (tens of thousands of calls per statement).
fn push_number(sql: &mut String, mut n: usize) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    sql.push_str(std::str::from_utf8(&digits[at..]).expect("ASCII digits"));
}

/// Binds: the columns of [`insert`] (tenant first), then the patched columns (bits of `mask`, in
/// field order). `INSERT .. ON CONFLICT (tenant, key) DO UPDATE SET <patched> = ? RETURNING *`:
/// the tenant leads the conflict target, so only a row of the caller's tenant can be updated.
/// An empty mask sets the key to itself (`"key" = "excluded"."key"`): the statement still
/// returns the stored row, in one round trip and without a race between the insert and a
/// follow-up read (at the price of a no-op row write where `DO NOTHING` would write nothing).
pub(crate) fn upsert(meta: &EntityMeta, dialect: Dialect, mask: u64) -> String {
    let columns = insert_columns(meta);
    let mut on_conflict = sea_query::OnConflict::columns([meta.tenant_column(), meta.key_column()]);
    if mask == 0 {
        on_conflict.update_column(meta.key_column());
    } else {
        on_conflict.values(patched(meta, mask).map(|column| (column.name, slot())));
    }
    let mut insert = Query::insert();
    insert
        .into_table(meta.table)
        .columns(columns.iter().copied())
        .values_panic(columns.iter().map(|_| slot()))
        .on_conflict(on_conflict)
        .returning(returning_all(meta));
    dialect.render(&insert)
}

/// The patchable columns whose bits are set in `mask`, in field order.
fn patched(meta: &EntityMeta, mask: u64) -> impl Iterator<Item = &'static ColumnMeta> + '_ {
    meta.patchable()
        .enumerate()
        .filter(move |(bit, _)| mask & (1 << bit) != 0)
        .map(|(_, column)| column)
}

/// Binds: the patched columns (bits of `mask`, in field order), then tenant, key.
pub(crate) fn update(meta: &EntityMeta, dialect: Dialect, mask: u64) -> String {
    let mut update = Query::update();
    update.table(meta.table);
    for column in patched(meta, mask) {
        update.value(column.name, slot());
    }
    update
        .and_where(Expr::col(meta.tenant_column()).eq(slot()))
        .and_where(Expr::col(meta.key_column()).eq(slot()));
    dialect.render(&update)
}

/// Binds: the patched columns (bits of `mask`, in field order), then the filter's values in the
/// order of its leaves, then tenant: the order of the placeholders in `UPDATE .. SET <patch>
/// WHERE (<filter>) AND tenant = ?`. The tenant predicate is ANDed outside the filter, as in
/// [`filtered`].
pub(crate) fn update_where(
    meta: &EntityMeta,
    dialect: Dialect,
    mask: u64,
    shape: &[Node],
) -> String {
    let mut update = Query::update();
    update.table(meta.table);
    for column in patched(meta, mask) {
        update.value(column.name, slot());
    }
    if let Some(condition) = condition(meta, shape) {
        update.and_where(condition);
    }
    update.and_where(Expr::col(meta.tenant_column()).eq(slot()));
    dialect.render(&update)
}

/// Binds: tenant, key.
pub(crate) fn delete(meta: &EntityMeta, dialect: Dialect) -> String {
    let mut delete = Query::delete();
    delete
        .from_table(meta.table)
        .and_where(Expr::col(meta.tenant_column()).eq(slot()))
        .and_where(Expr::col(meta.key_column()).eq(slot()));
    dialect.render(&delete)
}

/// Binds: the filter's values in the order of its leaves, then tenant. The tenant predicate is
/// ANDed outside the filter, as in [`filtered`].
pub(crate) fn delete_where(meta: &EntityMeta, dialect: Dialect, shape: &[Node]) -> String {
    let mut delete = Query::delete();
    delete.from_table(meta.table);
    if let Some(condition) = condition(meta, shape) {
        delete.and_where(condition);
    }
    delete.and_where(Expr::col(meta.tenant_column()).eq(slot()));
    dialect.render(&delete)
}

/// Binds nothing: every tenant's rows, for a `SystemCtx`.
pub(crate) fn system_list(meta: &EntityMeta, dialect: Dialect) -> String {
    let mut select = select_columns(meta);
    select
        .order_by(meta.tenant_column(), Order::Asc)
        .order_by(meta.key_column(), Order::Asc);
    dialect.render(&select)
}

/// Binds nothing.
pub(crate) fn system_count(meta: &EntityMeta, dialect: Dialect) -> String {
    let mut select = Query::select();
    select
        .expr(Func::count(Expr::col(meta.key_column())))
        .from(meta.table);
    dialect.render(&select)
}

/// Binds nothing: the distinct tenants that own rows.
pub(crate) fn system_tenant_ids(meta: &EntityMeta, dialect: Dialect) -> String {
    let mut select = Query::select();
    select
        .distinct()
        .column(meta.tenant_column())
        .from(meta.table)
        .order_by(meta.tenant_column(), Order::Asc);
    dialect.render(&select)
}

/// The name of the index of `column` of `table`: `t{len}_{table}_{column}_{suffix}`. The table's
/// length comes first, so two (table, column) pairs never render the same name (`invoice` with
/// `line_number` and `invoice_line` with `number` did, and `IF NOT EXISTS` then skipped the
/// second index, and its uniqueness with it). A name past PostgreSQL's 63 bytes ends in an
/// FNV-1a hash of the whole name rather than being cut where PostgreSQL would cut it.
pub(crate) fn index_name(table: &str, column: &str, suffix: &str) -> String {
    const MAX: usize = 63;
    let full = format!("t{}_{table}_{column}_{suffix}", table.len());
    if full.len() <= MAX {
        return full;
    }
    let mut hasher = fnv::FnvHasher::default();
    std::hash::Hasher::write(&mut hasher, full.as_bytes());
    let hash = std::hash::Hasher::finish(&hasher);
    // Identifiers are ASCII (the macro checks them), so any byte offset is a char boundary.
    format!("{}_{hash:016x}", &full[..MAX - 17])
}

/// Whether a column has an index of its own, led by the tenant: `#[unique]`, `#[index]`, and
/// `#[belongs_to]` (PostgreSQL does not index a foreign key's columns, and without an index
/// every delete of a parent scans the children).
fn has_index(column: &ColumnMeta) -> bool {
    column.unique || column.indexed || column.references.is_some()
}

fn index_suffix(column: &ColumnMeta) -> &'static str {
    if column.unique { "key" } else { "idx" }
}

/// Whether the table's primary key is the generated key alone, with a unique index on (tenant,
/// key) beside it: SQLite cannot generate a column of a composite primary key.
fn key_alone_is_primary(meta: &EntityMeta, dialect: Dialect) -> bool {
    meta.key_generated() && dialect == Dialect::Sqlite
}

/// The names of the entity's indexes, in the order [`ddl`] creates them.
pub(crate) fn index_names(meta: &EntityMeta, dialect: Dialect) -> Vec<String> {
    let tenant_key = key_alone_is_primary(meta, dialect)
        .then(|| index_name(meta.table, meta.key_column(), "key"));
    tenant_key
        .into_iter()
        .chain(
            meta.columns
                .iter()
                .filter(|c| has_index(c))
                .map(|column| index_name(meta.table, column.name, index_suffix(column))),
        )
        .collect()
}

/// CREATE TABLE and CREATE INDEX statements. The tenant column is NOT NULL and leads the primary
/// key and every index, so each tenant's rows are contiguous in every index and the table shards
/// by tenant on distributed PostgreSQL.
///
/// A generated key (`#[key(generated)]`) is `GENERATED BY DEFAULT AS IDENTITY` on PostgreSQL,
/// the primary key still (tenant, key). SQLite generates only the `INTEGER PRIMARY KEY` that
/// aliases the rowid, never a column of a composite key, so there the key alone is the primary
/// key (`INTEGER PRIMARY KEY AUTOINCREMENT`: never reused, even after a delete) and a unique
/// index on (tenant, key) leads with the tenant beside it. The trade-off: on SQLite the values
/// are unique across tenants and the table is clustered by key rather than by tenant.
///
/// A `#[belongs_to(Parent)]` column is a composite foreign key led by the tenant,
/// `FOREIGN KEY (tenant, column) REFERENCES parents (tenant, key)`, so a row can only point at a
/// parent of its own tenant, and it gets an index led by the tenant like an `#[index]` field.
/// The parent's (tenant, key) is its primary key, or on SQLite with a generated key the unique
/// index beside it, which a foreign key may reference as well. No `ON DELETE` action: deleting
/// a parent that still has children is refused (`NO ACTION`).
pub(crate) fn ddl(meta: &EntityMeta, dialect: Dialect) -> Vec<String> {
    let tenant = meta.tenant_column();
    let key_alone = key_alone_is_primary(meta, dialect);
    let mut table = Table::create();
    table.table(meta.table).if_not_exists();
    for column in meta.columns {
        let generated = column.generated && column.role == ColumnRole::Key;
        let column_type = if generated && key_alone {
            // Only the type name `INTEGER` makes the column the rowid.
            sea_query::ColumnType::Integer
        } else {
            column.ddl_type()
        };
        let mut def = ColumnDef::new_with_type(column.name, column_type);
        if column.nullable && column.role == ColumnRole::Data {
            def.null();
        } else {
            def.not_null();
        }
        // PostgreSQL's `infinity` is a timestamp and a date, but no `time` or `chrono` value:
        // sqlx panics decoding it. Refuse it where it would be written instead.
        let infinite = matches!(
            column.ddl_type(),
            ColumnType::Timestamp | ColumnType::TimestampWithTimeZone | ColumnType::Date
        );
        if infinite && column.declared_type.is_none() && dialect == Dialect::Postgres {
            def.check(Expr::cust(format!("isfinite(\"{}\")", column.name)));
        }
        if generated {
            match dialect {
                Dialect::Sqlite => def.primary_key().auto_increment(),
                Dialect::Postgres => def.extra("GENERATED BY DEFAULT AS IDENTITY"),
            };
        }
        if let Some(default) = column.default {
            // The developer's SQL expression, from the entity's source (a string literal).
            def.default(Expr::cust(default));
        }
        table.col(def);
    }
    if !key_alone {
        table.primary_key(Index::create().col(tenant).col(meta.key_column()));
    }
    for (column, parent) in meta.foreign_keys() {
        table.foreign_key(
            ForeignKey::create()
                .name(index_name(meta.table, column.name, "fkey"))
                .from_tbl(meta.table)
                .from_col(tenant)
                .from_col(column.name)
                .to_tbl(parent.table)
                .to_col(parent.tenant_column())
                .to_col(parent.key_column()),
        );
    }

    let mut statements = vec![dialect.render_schema(&table)];
    if key_alone {
        let mut index = Index::create();
        index
            .if_not_exists()
            .unique()
            .name(index_name(meta.table, meta.key_column(), "key"))
            .table(meta.table)
            .col(tenant)
            .col(meta.key_column());
        statements.push(dialect.render_schema(&index));
    }
    for column in meta.columns.iter().filter(|c| has_index(c)) {
        let suffix = index_suffix(column);
        let mut index = Index::create();
        index
            .if_not_exists()
            .name(index_name(meta.table, column.name, suffix))
            .table(meta.table)
            .col(tenant)
            .col(column.name);
        if column.unique {
            index.unique();
        }
        statements.push(dialect.render_schema(&index));
    }
    statements
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::meta::ColumnMeta;

    const fn column(name: &'static str, role: ColumnRole, unique: bool) -> ColumnMeta {
        ColumnMeta {
            name,
            role,
            column_type: || ColumnType::Text,
            declared_type: None,
            nullable: false,
            unique,
            indexed: false,
            generated: false,
            default: None,
            references: None,
        }
    }

    const META: EntityMeta = EntityMeta {
        table: "invoices",
        columns: &[
            column("id", ColumnRole::Key, false),
            column("tenant_id", ColumnRole::Tenant, false),
            column("customer", ColumnRole::Data, true),
            column("amount", ColumnRole::Data, false),
        ],
        key: 0,
        tenant: 1,
    };

    #[test]
    fn every_statement_is_filtered_by_tenant() {
        for dialect in [Dialect::Sqlite, Dialect::Postgres] {
            for sql in [
                get(&META, dialect),
                list(&META, dialect),
                filtered(&META, dialect, Filtered::Rows, &[Node::Cmp(3, Op::Gt)]),
                filtered(
                    &META,
                    dialect,
                    Filtered::Count,
                    &[Node::IsNull(2), Node::Not],
                ),
                filtered(&META, dialect, Filtered::Exists, &[Node::In(0, 2)]),
                count(&META, dialect),
                update(&META, dialect, 0b11),
                delete(&META, dialect),
                delete_where(&META, dialect, &[Node::Cmp(2, Op::Eq), Node::Not]),
                update_where(
                    &META,
                    dialect,
                    0b01,
                    &[Node::Cmp(2, Op::Eq), Node::Cmp(3, Op::Lt), Node::Or],
                ),
                update_where(&META, dialect, 0b11, &[]),
            ] {
                assert!(sql.contains(r#""tenant_id" = "#), "{sql}");
                assert!(sql.contains("WHERE"), "{sql}");
            }
        }
    }

    #[test]
    fn rendered_statements() {
        assert_eq!(
            get(&META, Dialect::Postgres),
            r#"SELECT "id", "tenant_id", "customer", "amount" FROM "invoices" WHERE "tenant_id" = $1 AND "id" = $2"#
        );
        assert_eq!(
            insert(&META, Dialect::Sqlite),
            r#"INSERT INTO "invoices" ("tenant_id", "id", "customer", "amount") VALUES (?, ?, ?, ?)"#
        );
        assert_eq!(
            update(&META, Dialect::Postgres, 0b10),
            r#"UPDATE "invoices" SET "amount" = $1 WHERE "tenant_id" = $2 AND "id" = $3"#
        );
        assert_eq!(
            filtered(
                &META,
                Dialect::Postgres,
                Filtered::Rows,
                &[Node::Cmp(3, Op::Ge), Node::Cmp(2, Op::Eq), Node::And]
            ),
            r#"SELECT "id", "tenant_id", "customer", "amount" FROM "invoices" WHERE "amount" >= $1 AND "customer" = $2 AND "tenant_id" = $3 ORDER BY "id" ASC"#
        );
    }

    #[test]
    fn richer_filters_render_with_the_tenant_outside() {
        let shape = [
            Node::Cmp(2, Op::Eq),
            Node::Cmp(2, Op::Like),
            Node::Or,
            Node::In(0, 2),
            Node::Not,
            Node::And,
        ];
        assert_eq!(
            filtered(&META, Dialect::Postgres, Filtered::Count, &shape),
            r#"SELECT COUNT("id") FROM "invoices" WHERE ("customer" = $1 OR "customer" LIKE $2 ESCAPE E'\\') AND (NOT "id" IN ($3, $4)) AND "tenant_id" = $5"#
        );
        assert_eq!(
            filtered(&META, Dialect::Sqlite, Filtered::Exists, &[Node::In(0, 0)]),
            r#"SELECT 1 FROM "invoices" WHERE (1 = 0) AND "tenant_id" = ? LIMIT 1"#
        );
    }

    fn term(column: usize, dir: Dir) -> Term {
        Term { column, dir }
    }

    #[test]
    fn keyset_pages_render_with_the_tenant_outside_the_or_chain() {
        let order = [term(3, Dir::Desc), term(2, Dir::Asc), term(0, Dir::Asc)];
        let filter = [Node::Cmp(2, Op::Eq), Node::Cmp(2, Op::Ne), Node::Or];
        let after = Ordered::Keyset { after: true };
        assert_eq!(
            ordered(&META, Dialect::Postgres, after, &order, &filter),
            r#"SELECT "id", "tenant_id", "customer", "amount" FROM "invoices" WHERE ("customer" = $1 OR "customer" <> $2) AND "amount" <= $3 AND ("amount" < $4 OR ("amount" = $5 AND "customer" > $6) OR ("amount" = $7 AND "customer" = $8 AND "id" > $9)) AND "tenant_id" = $10 ORDER BY "amount" DESC, "customer" ASC, "id" ASC LIMIT $11"#
        );
        // The key alone: no leading bound, the chain is one comparison.
        assert_eq!(
            ordered(&META, Dialect::Sqlite, after, &[term(0, Dir::Desc)], &[]),
            r#"SELECT "id", "tenant_id", "customer", "amount" FROM "invoices" WHERE "id" < ? AND "tenant_id" = ? ORDER BY "id" DESC LIMIT ?"#
        );
        // The first page: no keyset condition, the tenant's still there.
        assert_eq!(
            ordered(
                &META,
                Dialect::Sqlite,
                Ordered::Keyset { after: false },
                &order,
                &[]
            ),
            r#"SELECT "id", "tenant_id", "customer", "amount" FROM "invoices" WHERE "tenant_id" = ? ORDER BY "amount" DESC, "customer" ASC, "id" ASC LIMIT ?"#
        );
        // Whatever the shape, the tenant predicate is a top-level conjunct: after the last
        // `AND` at depth 0, never inside parentheses.
        for dialect in [Dialect::Sqlite, Dialect::Postgres] {
            for order in [&order[..], &order[1..], &order[2..]] {
                let sql = ordered(&META, dialect, after, order, &filter);
                let (head, tail) = sql.rsplit_once(r#" AND "tenant_id" = "#).unwrap();
                assert_eq!(
                    head.matches('(').count(),
                    head.matches(')').count(),
                    "{sql}"
                );
                assert!(!tail.contains(" OR ") && !tail.contains(')'), "{sql}");
            }
        }
    }

    #[test]
    fn ordered_rows_render_limit_and_offset_after_the_tenant() {
        let order = [term(3, Dir::Desc), term(0, Dir::Asc)];
        let head = r#"SELECT "id", "tenant_id", "customer", "amount" FROM "invoices" WHERE "customer" IS NULL AND "tenant_id" = $1 ORDER BY "amount" DESC, "id" ASC"#;
        for (limit, offset, tail) in [
            (false, false, ""),
            (true, false, " LIMIT $2"),
            // SQLite has no OFFSET without LIMIT: the caller binds i64::MAX.
            (false, true, " LIMIT $2 OFFSET $3"),
            (true, true, " LIMIT $2 OFFSET $3"),
        ] {
            let kind = Ordered::Rows { limit, offset };
            let sql = ordered(&META, Dialect::Postgres, kind, &order, &[Node::IsNull(2)]);
            assert_eq!(sql, format!("{head}{tail}"));
        }
        assert_eq!(
            ordered(
                &META,
                Dialect::Sqlite,
                Ordered::Rows {
                    limit: false,
                    offset: false
                },
                &[term(0, Dir::Asc)],
                &[]
            ),
            list(&META, Dialect::Sqlite)
        );
    }

    /// `tickets`: a generated key and a column with a default.
    const GENERATED: EntityMeta = EntityMeta {
        table: "tickets",
        columns: &[
            ColumnMeta {
                column_type: || ColumnType::BigInteger,
                generated: true,
                ..column("id", ColumnRole::Key, false)
            },
            column("tenant_id", ColumnRole::Tenant, false),
            column("title", ColumnRole::Data, false),
            ColumnMeta {
                default: Some("CURRENT_TIMESTAMP"),
                ..column("opened_at", ColumnRole::Data, false)
            },
        ],
        key: 0,
        tenant: 1,
    };

    /// Lines of `invoices` (META) and of `tickets` (GENERATED, a rowid key on SQLite).
    const LINES: EntityMeta = EntityMeta {
        table: "lines",
        columns: &[
            column("id", ColumnRole::Key, false),
            column("tenant_id", ColumnRole::Tenant, false),
            ColumnMeta {
                references: Some(|| &META),
                ..column("invoice", ColumnRole::Data, false)
            },
            ColumnMeta {
                references: Some(|| &GENERATED),
                nullable: true,
                ..column("ticket", ColumnRole::Data, false)
            },
        ],
        key: 0,
        tenant: 1,
    };

    #[test]
    fn belongs_to_is_a_foreign_key_led_by_the_tenant_and_indexed() {
        let pg = ddl(&LINES, Dialect::Postgres);
        assert_eq!(
            pg[0],
            r#"CREATE TABLE IF NOT EXISTS "lines" ( "id" text NOT NULL, "tenant_id" text NOT NULL, "invoice" text NOT NULL, "ticket" text NULL, PRIMARY KEY ("tenant_id", "id"), CONSTRAINT "t5_lines_invoice_fkey" FOREIGN KEY ("tenant_id", "invoice") REFERENCES "invoices" ("tenant_id", "id"), CONSTRAINT "t5_lines_ticket_fkey" FOREIGN KEY ("tenant_id", "ticket") REFERENCES "tickets" ("tenant_id", "id") )"#
        );
        assert_eq!(
            &pg[1..],
            [
                r#"CREATE INDEX IF NOT EXISTS "t5_lines_invoice_idx" ON "lines" ("tenant_id", "invoice")"#,
                r#"CREATE INDEX IF NOT EXISTS "t5_lines_ticket_idx" ON "lines" ("tenant_id", "ticket")"#,
            ]
        );
        let sqlite = ddl(&LINES, Dialect::Sqlite);
        assert!(
            sqlite[0].contains(
                r#"FOREIGN KEY ("tenant_id", "ticket") REFERENCES "tickets" ("tenant_id", "id")"#
            ),
            "{}",
            sqlite[0]
        );
        assert_eq!(
            index_names(&LINES, Dialect::Sqlite),
            ["t5_lines_invoice_idx", "t5_lines_ticket_idx"]
        );
    }

    #[test]
    fn with_parent_joins_on_tenant_and_key_and_filters_both_sides() {
        assert_eq!(
            with_parent(&LINES, &META, Dialect::Postgres, 2, &[Node::Cmp(0, Op::Gt)]),
            r#"SELECT "child"."id", "child"."tenant_id", "child"."invoice", "child"."ticket", "parent"."id", "parent"."tenant_id", "parent"."customer", "parent"."amount" FROM "lines" AS "child" INNER JOIN "invoices" AS "parent" ON "parent"."tenant_id" = "child"."tenant_id" AND "parent"."id" = "child"."invoice" WHERE "child"."id" > $1 AND "child"."tenant_id" = $2 AND "parent"."tenant_id" = $3 ORDER BY "child"."id" ASC"#
        );
        // The tenant predicates stay outside the filter's OR.
        let sql = with_parent(
            &LINES,
            &GENERATED,
            Dialect::Sqlite,
            3,
            &[Node::IsNull(2), Node::Cmp(0, Op::Eq), Node::Or],
        );
        assert!(
            sql.ends_with(r#"WHERE ("child"."invoice" IS NULL OR "child"."id" = ?) AND "child"."tenant_id" = ? AND "parent"."tenant_id" = ? ORDER BY "child"."id" ASC"#),
            "{sql}"
        );
    }

    #[test]
    fn parents_are_created_before_their_children() {
        use crate::repo::meta::creation_order;
        assert_eq!(creation_order(&[&LINES, &META, &GENERATED]), [1, 2, 0]);
        assert_eq!(creation_order(&[&META, &LINES, &GENERATED]), [0, 2, 1]);
        // A parent not in the set is taken to exist.
        assert_eq!(creation_order(&[&LINES, &GENERATED]), [1, 0]);
        assert_eq!(creation_order(&[&LINES]), [0]);
    }

    #[test]
    fn update_where_binds_the_patch_then_the_filter_then_the_tenant() {
        assert_eq!(
            update_where(
                &META,
                Dialect::Postgres,
                0b11,
                &[Node::Cmp(2, Op::Eq), Node::Cmp(2, Op::Ne), Node::Or]
            ),
            r#"UPDATE "invoices" SET "customer" = $1, "amount" = $2 WHERE ("customer" = $3 OR "customer" <> $4) AND "tenant_id" = $5"#
        );
        assert_eq!(
            update_where(
                &META,
                Dialect::Sqlite,
                0b10,
                &[Node::Cmp(0, Op::Gt), Node::Not]
            ),
            r#"UPDATE "invoices" SET "amount" = ? WHERE (NOT "id" > ?) AND "tenant_id" = ?"#
        );
        // An empty filter: the tenant predicate alone.
        assert_eq!(
            update_where(&META, Dialect::Sqlite, 0b01, &[]),
            r#"UPDATE "invoices" SET "customer" = ? WHERE "tenant_id" = ?"#
        );
    }

    // The tuples are appended by hand: the text must stay what sea-query prints for the rows.
    #[test]
    fn insert_many_is_what_sea_query_renders() {
        for (meta, dialect) in [
            (&META, Dialect::Postgres),
            (&META, Dialect::Sqlite),
            (&GENERATED, Dialect::Postgres),
        ] {
            for rows in [1, 2, 3, 9, 10, 11, 250, 2_501] {
                let columns = insert_columns(meta);
                let mut insert = Query::insert();
                insert
                    .into_table(meta.table)
                    .columns(columns.iter().copied());
                for _ in 0..rows {
                    insert.values_panic(columns.iter().map(|_| slot()));
                }
                assert_eq!(insert_many(meta, dialect, rows), dialect.render(&insert));
            }
        }
    }

    #[test]
    fn insert_many_repeats_the_row_with_the_tenant_first() {
        assert_eq!(
            insert_many(&META, Dialect::Postgres, 2),
            r#"INSERT INTO "invoices" ("tenant_id", "id", "customer", "amount") VALUES ($1, $2, $3, $4), ($5, $6, $7, $8)"#
        );
        assert_eq!(
            insert_many(&GENERATED, Dialect::Sqlite, 3),
            r#"INSERT INTO "tickets" ("tenant_id", "title") VALUES (?, ?), (?, ?), (?, ?)"#
        );
    }

    #[test]
    fn upsert_conflicts_on_tenant_and_key_and_returns_the_row() {
        assert_eq!(
            upsert(&META, Dialect::Postgres, 0b10),
            r#"INSERT INTO "invoices" ("tenant_id", "id", "customer", "amount") VALUES ($1, $2, $3, $4) ON CONFLICT ("tenant_id", "id") DO UPDATE SET "amount" = $5 RETURNING "id", "tenant_id", "customer", "amount""#
        );
        // An empty patch: a no-op update, so the stored row still comes back.
        assert_eq!(
            upsert(&META, Dialect::Sqlite, 0),
            r#"INSERT INTO "invoices" ("tenant_id", "id", "customer", "amount") VALUES (?, ?, ?, ?) ON CONFLICT ("tenant_id", "id") DO UPDATE SET "id" = "excluded"."id" RETURNING "id", "tenant_id", "customer", "amount""#
        );
    }

    #[test]
    fn insert_returns_the_row_only_when_the_database_fills_a_column() {
        assert!(!insert(&META, Dialect::Postgres).contains("RETURNING"));
        assert_eq!(
            insert(&GENERATED, Dialect::Postgres),
            r#"INSERT INTO "tickets" ("tenant_id", "title") VALUES ($1, $2) RETURNING "id", "tenant_id", "title", "opened_at""#
        );
    }

    #[test]
    fn generated_keys_and_defaults_in_ddl() {
        let pg = ddl(&GENERATED, Dialect::Postgres);
        assert_eq!(
            pg,
            [
                r#"CREATE TABLE IF NOT EXISTS "tickets" ( "id" bigint NOT NULL GENERATED BY DEFAULT AS IDENTITY, "tenant_id" text NOT NULL, "title" text NOT NULL, "opened_at" text NOT NULL DEFAULT (CURRENT_TIMESTAMP), PRIMARY KEY ("tenant_id", "id") )"#
            ]
        );
        let sqlite = ddl(&GENERATED, Dialect::Sqlite);
        assert_eq!(
            sqlite,
            [
                r#"CREATE TABLE IF NOT EXISTS "tickets" ( "id" integer NOT NULL PRIMARY KEY AUTOINCREMENT, "tenant_id" text NOT NULL, "title" text NOT NULL, "opened_at" text NOT NULL DEFAULT (CURRENT_TIMESTAMP) )"#,
                r#"CREATE UNIQUE INDEX IF NOT EXISTS "t7_tickets_id_key" ON "tickets" ("tenant_id", "id")"#,
            ]
        );
        assert_eq!(
            index_names(&GENERATED, Dialect::Sqlite),
            ["t7_tickets_id_key"]
        );
        assert!(index_names(&GENERATED, Dialect::Postgres).is_empty());
    }

    #[test]
    // Regression: a malformed sequence (an operator short of operands) dropped the whole
    // filter, so the statement matched every row of the tenant.
    fn a_malformed_filter_matches_nothing() {
        for shape in [
            &[Node::Not][..],
            &[Node::Cmp(2, Op::Eq), Node::And],
            &[Node::Cmp(2, Op::Eq), Node::Cmp(3, Op::Eq)],
        ] {
            let sql = filtered(&META, Dialect::Sqlite, Filtered::Count, shape);
            assert!(sql.contains("(1 = 0)"), "{sql}");
            let sql = delete_where(&META, Dialect::Sqlite, shape);
            assert!(sql.contains("(1 = 0)"), "{sql}");
        }
    }

    #[test]
    // Regression (issue 11, hole 7): `{table}_{column}_key` collided across tables.
    fn index_names_cannot_collide_or_be_cut() {
        assert_ne!(
            index_name("invoice", "line_number", "key"),
            index_name("invoice_line", "number", "key")
        );
        let long = "x".repeat(60);
        let (a, b) = (index_name(&long, "a", "key"), index_name(&long, "b", "key"));
        assert!(a.len() <= 63 && b.len() <= 63, "{a} {b}");
        assert_ne!(a, b);
    }

    #[test]
    fn ddl_leads_with_the_tenant() {
        let ddl = ddl(&META, Dialect::Postgres);
        assert!(
            ddl[0].contains(r#""tenant_id" text NOT NULL"#),
            "{}",
            ddl[0]
        );
        assert!(
            ddl[0].contains(r#"PRIMARY KEY ("tenant_id", "id")"#),
            "{}",
            ddl[0]
        );
        assert_eq!(
            ddl[1],
            r#"CREATE UNIQUE INDEX IF NOT EXISTS "t8_invoices_customer_key" ON "invoices" ("tenant_id", "customer")"#
        );
    }
}
