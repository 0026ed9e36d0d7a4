//! Whether a method call's first argument is SQL text: what the scanner lists as a plain
//! statement run by an executor (`pool.execute("DELETE ..")`), without type information.

use proc_macro2::{Delimiter, TokenTree};

use super::tokens::{ident_is, paren_group, punct_is, string_value};

/// The first argument of a method call is SQL text (see [`Shape::Statement`](crate::patterns::Shape::Statement)).
pub(super) fn is_sql_text(argument: &[TokenTree]) -> bool {
    let mut k = 0;
    while k < argument.len()
        && (punct_is(argument.get(k), '&')
            || punct_is(argument.get(k), '*')
            || ident_is(&argument[k], "mut"))
    {
        k += 1;
    }
    let rest = &argument[k..];
    match rest {
        [TokenTree::Literal(lit), ..] => string_value(lit).is_some(),
        // `(sql, arguments)`: a statement with its arguments.
        [TokenTree::Group(group)] if group.delimiter() == Delimiter::Parenthesis => {
            let inner: Vec<TokenTree> = group.stream().into_iter().collect();
            let mut parts = inner.split(|token| punct_is(Some(token), ','));
            let first = parts.next().unwrap_or_default();
            parts.next().is_some() && is_sql_text(first)
        }
        [TokenTree::Ident(name), bang, TokenTree::Group(_), ..] if punct_is(Some(bang), '!') => {
            ["format", "concat", "include_str"]
                .iter()
                .any(|m| name == m)
        }
        _ => {
            // A path (`sqlx::AssertSqlSafe(..)`) or a place (`self.sql.as_str()`): its names.
            let names: Vec<String> = rest
                .iter()
                .take_while(|token| {
                    !matches!(token, TokenTree::Group(_)) || paren_group(token).is_some()
                })
                .filter_map(|token| match token {
                    TokenTree::Ident(ident) => Some(ident.to_string()),
                    _ => None,
                })
                .collect();
            names.iter().any(|name| name == "AssertSqlSafe")
                || names.iter().any(|name| names_sql(name))
        }
    }
}

/// A name that says it holds SQL: a word `sql`, `stmt`, `statement(s)`, `ddl` or `query`
/// between underscores (`insert_sql`, `STATEMENT`), or an upper-case constant not named like a
/// pool, a connection or a transaction (`DELETE_EXPIRED`, but not `POOL`).
fn names_sql(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    let mut words = lower.split('_').filter(|word| !word.is_empty());
    if words
        .clone()
        .any(|word| ["sql", "stmt", "statement", "statements", "ddl", "query"].contains(&word))
    {
        return true;
    }
    let constant = name.chars().any(|c| c.is_ascii_uppercase())
        && name.len() >= 2
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    constant
        && !words.any(|word| {
            [
                "pool",
                "db",
                "database",
                "conn",
                "connection",
                "tx",
                "transaction",
                "executor",
            ]
            .contains(&word)
        })
}
