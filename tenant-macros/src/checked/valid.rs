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
    // The engine's offsets are on character boundaries; a wrong one moves back to one rather
    // than panicking.
    let mut end = offset.min(sql.len());
    while !sql.is_char_boundary(end) {
        end -= 1;
    }
    let before = &sql[..end];
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
                let mut inner =
                    proc_macro2::Group::new(group.delimiter(), respan(group.stream(), span));
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
                let at = line_column(&sql, error.span.start);
                let quoted = fragment(&sql, &error.span);
                let at = if error.span == (0..sql.len()) {
                    String::new()
                } else if error.message.contains(&format!("`{quoted}`")) {
                    format!(" (at {at})")
                } else {
                    format!(" (`{quoted}`, at {at})")
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
                    format!(
                        "internal: the checked statement names entity {index} of {}",
                        checked.entities.len()
                    ),
                    "report this bug of tenant-sqlcheck with the statement",
                );
            }
        }
    }
    for (table, span) in &invocation.shared {
        if !sql
            .to_ascii_lowercase()
            .contains(&table.to_ascii_lowercase())
        {
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

#[cfg(test)]
mod tests {
    use super::{fragment, line_column};

    #[test]
    fn positions_are_lines_and_character_columns() {
        let sql = "SELECT id\n  FROM invoices WHERE name = 'é' AND x";
        assert_eq!(line_column(sql, 0), "1:1");
        assert_eq!(line_column(sql, sql.find("invoices").unwrap()), "2:8");
        // Columns count characters, not bytes: `é` is two bytes.
        assert_eq!(line_column(sql, sql.find(" AND").unwrap()), "2:33");
        // Inside `é`, or past the end: the nearest position before, never a panic.
        assert_eq!(line_column(sql, sql.find('é').unwrap() + 1), "2:31");
        assert_eq!(line_column(sql, sql.len() + 5), "2:39");
    }

    #[test]
    fn fragments_are_shortened_and_on_one_line() {
        let sql = "SELECT a,\n       b FROM t";
        assert_eq!(fragment(sql, &(0..sql.len())), "SELECT a, b FROM t");
        let long = "x".repeat(60);
        assert_eq!(fragment(&long, &(0..60)), format!("{}..", "x".repeat(40)));
        // A span that is not on character boundaries quotes the whole statement, not a panic.
        assert_eq!(fragment("é", &(0..1)), "é");
    }
}
