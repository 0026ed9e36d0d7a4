//! The reads: single rows, filtered and ordered lists (keyset pages among them), counts, the
//! join of a child with its parent, and the cross-tenant reads of a `SystemCtx`.

use sea_query::{Expr, ExprTrait, Func, Order, Query};

use super::condition::{condition, condition_of, scope};
use super::{slot, tenant_predicate, tenant_predicate_in};
use crate::repo::dialect::Dialect;
use crate::repo::meta::EntityMeta;
use crate::repo::shape::{Dir, Node, Term};

pub(super) fn select_columns(meta: &EntityMeta) -> sea_query::SelectStatement {
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
        .and_where(tenant_predicate(meta))
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
    scope(&mut select, meta, shape);
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
    select.and_where(tenant_predicate(meta));
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
pub(super) fn keyset(meta: &EntityMeta, order: &[Term], select: &mut sea_query::SelectStatement) {
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
        .and_where(tenant_predicate(meta));
    dialect.render(&select)
}

/// The alias of the child's table in [`with_parent`].
pub(super) const CHILD: &str = "child";
/// The alias of the parent's table in [`with_parent`].
pub(super) const PARENT: &str = "parent";

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
        .and_where(tenant_predicate_in(meta, CHILD))
        .and_where(tenant_predicate_in(parent, PARENT))
        .order_by((CHILD, meta.key_column()), Order::Asc);
    dialect.render(&select)
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
