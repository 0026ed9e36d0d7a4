//! The writes: inserts (one row, many rows, upserts), updates and deletes, by key or by filter.

use sea_query::{Expr, ExprTrait, Query};

use super::condition::scope;
use super::{slot, tenant_predicate};
use crate::repo::dialect::Dialect;
use crate::repo::meta::{ColumnMeta, EntityMeta};
use crate::repo::shape::Node;

/// The columns of an INSERT: the tenant, then those `New<Entity>` gives values to (see
/// [`EntityMeta::inserted`]).
pub(super) fn insert_columns(meta: &EntityMeta) -> Vec<&'static str> {
    std::iter::once(meta.tenant_column())
        .chain(meta.inserted().map(|c| c.name))
        .collect()
}

/// `RETURNING` every column, in the order of a SELECT.
pub(super) fn returning_all(meta: &EntityMeta) -> sea_query::ReturningClause {
    Query::returning().columns(meta.columns.iter().map(|c| c.name))
}

/// Binds: tenant, then the columns `New<Entity>` gives values to, in field order (every
/// non-tenant column but a generated key and the columns with a database default). The
/// statement ends in `RETURNING` every column, so the caller gets the row as stored, when the
/// database fills a column or may keep a value otherwise than sent (PostgreSQL: a timestamp in
/// microseconds). SQLite keeps every value as sent, so there a row without a database-filled
/// column is known without reading it back (RETURNING cost 1.19x there, BENCHMARKS.md).
pub(crate) fn insert(meta: &EntityMeta, dialect: Dialect) -> String {
    let mut insert = one_row_insert(meta);
    if meta.returns_on_insert() || dialect == Dialect::Postgres {
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
pub(super) fn insert_values(meta: &EntityMeta, dialect: Dialect) -> String {
    dialect.render(&one_row_insert(meta))
}

/// `INSERT INTO table (tenant, columns..) VALUES (?, ..)`, one slot per column of [`insert`].
fn one_row_insert(meta: &EntityMeta) -> sea_query::InsertStatement {
    let columns = insert_columns(meta);
    let mut insert = Query::insert();
    insert
        .into_table(meta.table)
        .columns(columns.iter().copied())
        .values_panic(columns.iter().map(|_| slot()));
    insert
}

/// `(?, ?)` or `($first, $first + 1)`: one row of `columns` placeholders, as sea-query prints them.
pub(super) fn push_tuple(sql: &mut String, dialect: Dialect, first: usize, columns: usize) {
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
pub(super) fn push_number(sql: &mut String, mut n: usize) {
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
pub(super) fn patched(
    meta: &EntityMeta,
    mask: u64,
) -> impl Iterator<Item = &'static ColumnMeta> + '_ {
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
        .and_where(tenant_predicate(meta))
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
    scope(&mut update, meta, shape);
    dialect.render(&update)
}

/// Binds: tenant, key.
pub(crate) fn delete(meta: &EntityMeta, dialect: Dialect) -> String {
    let mut delete = Query::delete();
    delete
        .from_table(meta.table)
        .and_where(tenant_predicate(meta))
        .and_where(Expr::col(meta.key_column()).eq(slot()));
    dialect.render(&delete)
}

/// Binds: the filter's values in the order of its leaves, then tenant. The tenant predicate is
/// ANDed outside the filter, as in [`filtered`].
pub(crate) fn delete_where(meta: &EntityMeta, dialect: Dialect, shape: &[Node]) -> String {
    let mut delete = Query::delete();
    delete.from_table(meta.table);
    scope(&mut delete, meta, shape);
    dialect.render(&delete)
}
