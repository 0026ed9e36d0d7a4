//! Every statement a repository runs, built with sea-query, in the seams of its own docs: reads
//! ([`read`]), writes ([`write`]), the filter's condition ([`condition`]) and the DDL
//! ([`ddl`]). Each is rendered once per dialect and cached (see `statements.rs`); the
//! placeholders are bound by the caller in the order each function's `Binds:` documents.
//!
//! This module holds what every statement shares; the others import it, never each other but
//! for [`condition`].

pub(crate) mod condition;
pub(crate) mod ddl;
pub(crate) mod read;
#[cfg(test)]
mod tests;
pub(crate) mod write;

use sea_query::{Expr, ExprTrait};

use super::meta::EntityMeta;

/// Placeholder value: only the rendered SQL text is kept, the values are bound at call time.
pub(super) fn slot() -> Expr {
    Expr::val(0i64)
}

/// `tenant = ?`: the predicate every statement of a tenant carries, ANDed outside everything
/// else it says. Binds: tenant.
pub(super) fn tenant_predicate(meta: &EntityMeta) -> Expr {
    Expr::col(meta.tenant_column()).eq(slot())
}

/// [`tenant_predicate`] on the table aliased `alias` (in a join).
pub(super) fn tenant_predicate_in(meta: &EntityMeta, alias: &'static str) -> Expr {
    Expr::col((alias, meta.tenant_column())).eq(slot())
}
