//! The SQL checked by the engine, its errors turned into compile errors at the literal (stable
//! Rust cannot point inside a literal, so each quotes its fragment and line:column).

use proc_macro2::{Span, TokenStream, TokenTree};

use super::Kind;
use super::ast::{Invocation, abbreviate};
use crate::ctxt::Ctxt;

/// What the expansion needs: the engine's result, the entities as Rust paths spanned at the
/// literal, and where each named column is.
pub(crate) struct Valid {
    pub(crate) sql: String,
    pub(crate) checked: tenant_sqlcheck::Checked,
    pub(crate) entities: Vec<TokenStream>,
}

/// `line:column` (1-based, columns in characters) of byte `offset` in `sql`.
pub(crate) fn line_column(sql: &str, offset: usize) -> String {
    let before = &sql[..offset.min(sql.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    format!("{line}:{column}")
}

/// The fragment of `sql` at `span`, shortened, for a message.
pub(crate) fn fragment(sql: &str, span: &std::ops::Range<usize>) -> String {
    abbreviate(sql.get(span.clone()).unwrap_or(sql))
}

fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut tree| {
            if let TokenTree::Group(group) = &tree {
                let mut inner = proc_macro2::Group::new(group.delimiter(), respan(group.stream(), span));
                inner.set_span(span);
                tree = TokenTree::Group(inner);
            }
            tree.set_span(span);
            tree
        })
        .collect()
}

pub(crate) fn check(invocation: &Invocation) -> Result<Valid, syn::Error> {
    let sql = invocation.sql.value();
    let lit = &invocation.sql;
    let shared: Vec<String> = invocation.shared.iter().map(|(t, _)| t.clone()).collect();
    let options = tenant_sqlcheck::Options {
        args: invocation.args.len(),
        shared: &shared,
    };
    let mut cx = Ctxt::new();
    let checked = match tenant_sqlcheck::check(&sql, &options) {
        Ok(checked) => Some(checked),
        Err(errors) => {
            for error in errors {
                let at = if error.span == (0..sql.len()) {
                    String::new()
                } else {
                    format!(
                        " (`{}`, at {})",
                        fragment(&sql, &error.span),
                        line_column(&sql, error.span.start)
                    )
                };
                cx.error_at(lit.span(), format!("{}{at}", error.message), error.help);
            }
            None
        }
    };
    let mut entities = Vec::new();
    if let Some(checked) = &checked {
        if invocation.kind != Kind::Query && !checked.returns_rows {
            cx.error_at(
                lit.span(),
                format!(
                    "{} decodes rows, and this statement returns none",
                    invocation.kind.name()
                ),
                "add `RETURNING ..` to the statement, or run it with `query!(..).execute(..)`",
            );
        }
        for entity in &checked.entities {
            match syn::parse_str::<syn::Path>(&entity.path) {
                Ok(path) => entities.push(respan(quote::quote!(#path), lit.span())),
                Err(_) => cx.error_at(
                    lit.span(),
                    format!(
                        "`{{{}}}` (at {}) is not the path of an entity",
                        entity.path,
                        line_column(&sql, entity.span.start)
                    ),
                    "name a #[tenant_scoped] struct by its Rust path: `{Invoice}`, `{crate::model::Invoice}`; write `{{` for a literal brace",
                ),
            }
        }
        for piece in &checked.pieces {
            let index = match piece {
                tenant_sqlcheck::Piece::Table(i) | tenant_sqlcheck::Piece::TenantColumn(i) => *i,
                _ => continue,
            };
            if index >= checked.entities.len() {
                cx.error_at(
                    lit.span(),
                    format!("internal: the checked statement names entity {index} of {}", checked.entities.len()),
                    "report this bug of tenant-sqlcheck with the statement",
                );
            }
        }
    }
    for (table, span) in &invocation.shared {
        if !sql.to_ascii_lowercase().contains(&table.to_ascii_lowercase()) {
            cx.error_at(
                *span,
                format!("`{table}` is declared shared but the statement does not name it"),
                "remove it from `shared(..)`",
            );
        }
    }
    cx.check()?;
    match checked {
        Some(checked) => Ok(Valid {
            sql,
            checked,
            entities,
        }),
        None => Err(syn::Error::new(lit.span(), "the statement was not checked")),
    }
}
