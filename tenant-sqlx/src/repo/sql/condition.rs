//! A filter's condition: its postfix nodes as a sea-query expression, and the scoping of a
//! statement by that condition and the tenant.

use sea_query::{ConditionalStatement, Expr, ExprTrait};

use super::{slot, tenant_predicate};
use crate::repo::meta::EntityMeta;
use crate::repo::shape::{Node, Op};

/// The filter's condition, built from its postfix nodes; `None` for an empty filter.
pub(super) fn condition(meta: &EntityMeta, shape: &[Node]) -> Option<Expr> {
    condition_of(meta, shape, None)
}

/// The column at `index` of `meta`, qualified by `alias` if given (in a join).
pub(super) fn column_of(meta: &EntityMeta, index: usize, alias: Option<&'static str>) -> Expr {
    let name = meta.columns[index].name;
    match alias {
        Some(alias) => Expr::col((alias, name)),
        None => Expr::col(name),
    }
}

/// [`condition`], its columns qualified by `alias` if given; `None` for an empty filter.
pub(super) fn condition_of(
    meta: &EntityMeta,
    shape: &[Node],
    alias: Option<&'static str>,
) -> Option<Expr> {
    if shape.is_empty() {
        return None;
    }
    // `Filter`'s combinators only build well-formed sequences; were one malformed anyway, the
    // filter matches nothing rather than being dropped (which would match everything).
    Some(build(meta, shape, alias).unwrap_or_else(|| Expr::cust("1 = 0")))
}

/// The condition of a non-empty postfix sequence; `None` if it is malformed.
pub(super) fn build(
    meta: &EntityMeta,
    shape: &[Node],
    alias: Option<&'static str>,
) -> Option<Expr> {
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

/// ANDs `shape`'s condition, if any, then the tenant predicate outside it onto `statement`:
/// no `or` in the filter can reach another tenant's rows. Binds: the filter's values in the
/// order of its leaves, then tenant.
pub(super) fn scope(statement: &mut impl ConditionalStatement, meta: &EntityMeta, shape: &[Node]) {
    if let Some(condition) = condition(meta, shape) {
        statement.and_where(condition);
    }
    statement.and_where(tenant_predicate(meta));
}
