//! The invocation: `ctx, [shared(a, b),] [Type,] "SQL", args..`, split on its top-level commas
//! (commas inside brackets belong to their group; an argument with a top-level comma of its own,
//! a closure's parameters, needs parentheses).

use proc_macro2::{Delimiter, Span, TokenStream, TokenTree};

use super::Kind;
use crate::ctxt::Ctxt;

pub(crate) struct Invocation {
    pub(crate) kind: Kind,
    pub(crate) ctx: TokenStream,
    /// `shared(..)`'s table names, each with its tokens.
    pub(crate) shared: Vec<(String, Span)>,
    /// `query_as!` / `query_scalar!`: the row or value type.
    pub(crate) output: Option<syn::Type>,
    pub(crate) sql: syn::LitStr,
    pub(crate) args: Vec<TokenStream>,
}

/// The tokens between top-level commas; a trailing comma adds no segment.
fn segments(input: TokenStream) -> Vec<TokenStream> {
    let mut segments = vec![TokenStream::new()];
    for tree in input {
        match &tree {
            TokenTree::Punct(p) if p.as_char() == ',' => segments.push(TokenStream::new()),
            _ => segments.last_mut().expect("never empty").extend([tree]),
        }
    }
    if segments.last().is_some_and(TokenStream::is_empty) && segments.len() > 1 {
        segments.pop();
    }
    segments
}

/// A `macro_rules!` fragment arrives in an invisible group: look through it.
fn unwrap_invisible(tokens: &TokenStream) -> TokenStream {
    let mut iter = tokens.clone().into_iter();
    match (iter.next(), iter.next()) {
        (Some(TokenTree::Group(g)), None) if g.delimiter() == Delimiter::None => {
            unwrap_invisible(&g.stream())
        }
        _ => tokens.clone(),
    }
}

/// `ident(..)` with nothing after: an option such as `shared(countries)`.
fn option(tokens: &TokenStream) -> Option<(syn::Ident, proc_macro2::Group)> {
    let mut iter = tokens.clone().into_iter();
    match (iter.next(), iter.next(), iter.next()) {
        (Some(TokenTree::Ident(ident)), Some(TokenTree::Group(group)), None)
            if group.delimiter() == Delimiter::Parenthesis =>
        {
            Some((ident, group))
        }
        _ => None,
    }
}

fn first_span(tokens: &TokenStream, fallback: Span) -> Span {
    tokens
        .clone()
        .into_iter()
        .next()
        .map_or(fallback, |t| t.span())
}

const SQL_HELP: &str = "write the statement as one string literal, e.g. \"SELECT id FROM {Invoice} WHERE total > $1\"; SQL built at run time is plain sqlx, outside the check (the inventory lists it)";

impl Invocation {
    pub(crate) fn parse(kind: Kind, input: TokenStream) -> Result<Invocation, syn::Error> {
        let name = kind.name();
        let mut segments = segments(input).into_iter().peekable();
        let mut cx = Ctxt::new();
        let ctx = segments.next().unwrap_or_default();
        if ctx.is_empty() {
            return Err(fail(
                cx,
                syn::Error::new(
                    Span::call_site(),
                    format!(
                        "{name} takes the `&TenantCtx` first\nhelp: write `{name}(&ctx, \"SELECT .. FROM {{Entity}}\", args..)`"
                    ),
                ),
            ));
        }
        let mut shared = Vec::new();
        let mut seen_shared = false;
        while let Some((ident, group)) = segments.peek().and_then(option) {
            if ident == "Fn" || ident == "FnMut" || ident == "FnOnce" {
                break;
            }
            segments.next();
            if ident != "shared" {
                cx.error_with_help(
                    &ident,
                    format!("unknown option `{ident}` of {name}"),
                    "the one option is `shared(table, ..)`: plain tables every tenant reads",
                );
                continue;
            }
            if seen_shared {
                cx.error_with_help(
                    &ident,
                    "`shared(..)` is given twice",
                    "name every shared table in one `shared(a, b)`",
                );
            }
            seen_shared = true;
            for table in segments_of(group.stream()) {
                match syn::parse2::<syn::Ident>(table.clone()) {
                    Ok(ident) => {
                        let text = ident.to_string();
                        if shared.iter().any(|(t, _): &(String, Span)| *t == text) {
                            cx.error_with_help(
                                &ident,
                                format!("`{text}` is declared shared twice"),
                                "name each shared table once",
                            );
                        }
                        shared.push((text, ident.span()));
                    }
                    Err(_) => cx.error_with_help(
                        &table,
                        "a shared table is a plain table name",
                        "write `shared(countries)`; tenant tables are named `{Entity}` in the SQL, never shared",
                    ),
                }
            }
        }
        let output = match kind {
            Kind::Query => None,
            Kind::As | Kind::Scalar => {
                let tokens = segments.next().unwrap_or_default();
                let what = if kind == Kind::As { "row" } else { "value" };
                match syn::parse2::<syn::Type>(tokens.clone()) {
                    Ok(ty) => Some(ty),
                    Err(_) => {
                        return Err(fail(
                            cx,
                            syn::Error::new(
                                first_span(&tokens, Span::call_site()),
                                format!(
                                    "{name} takes the {what} type after the context\nhelp: write `{name}(&ctx, Type, \"SELECT ..\", args..)`"
                                ),
                            ),
                        ));
                    }
                }
            }
        };
        let sql_tokens = segments.next().unwrap_or_default();
        let sql = match syn::parse2::<syn::Lit>(unwrap_invisible(&sql_tokens)) {
            Ok(syn::Lit::Str(lit)) if lit.suffix().is_empty() => Some(lit),
            _ => {
                let message = if sql_tokens.is_empty() {
                    format!("{name} takes the SQL, a string literal, after the context")
                } else {
                    format!(
                        "the SQL of {name} must be a string literal, not `{}`: it is checked when the crate compiles",
                        abbreviate(&sql_tokens.to_string())
                    )
                };
                let error = format!("{message}\nhelp: {SQL_HELP}");
                cx.push(if sql_tokens.is_empty() {
                    syn::Error::new(Span::call_site(), error)
                } else {
                    syn::Error::new_spanned(&sql_tokens, error)
                });
                None
            }
        };
        let args: Vec<TokenStream> = segments.collect();
        for arg in &args {
            if arg.is_empty() {
                cx.error_at(
                    Span::call_site(),
                    "an empty argument",
                    "remove the extra comma",
                );
            }
        }
        cx.check()?;
        let Some(sql) = sql else {
            return Err(syn::Error::new(
                Span::call_site(),
                "the SQL literal is missing",
            ));
        };
        Ok(Invocation {
            kind,
            ctx,
            shared,
            output,
            sql,
            args,
        })
    }
}

/// `error` after those recorded so far.
fn fail(cx: Ctxt, error: syn::Error) -> syn::Error {
    match cx.check() {
        Ok(()) => error,
        Err(mut all) => {
            all.combine(error);
            all
        }
    }
}

fn segments_of(tokens: TokenStream) -> Vec<TokenStream> {
    if tokens.is_empty() {
        return Vec::new();
    }
    segments(tokens)
}

/// At most 40 characters of `text`, for a message.
pub(crate) fn abbreviate(text: &str) -> String {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match text.char_indices().nth(40) {
        Some((end, _)) => format!("{}..", &text[..end]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use quote::quote;

    use super::{Invocation, segments};
    use crate::checked::Kind;

    #[test]
    fn commas_inside_groups_do_not_split() {
        let parts = segments(quote!(ctx, f(a, b), [1, 2], "SQL",));
        let parts: Vec<String> = parts.iter().map(ToString::to_string).collect();
        assert_eq!(parts, ["ctx", "f (a , b)", "[1 , 2]", "\"SQL\""]);
    }

    #[test]
    fn every_part_is_read() {
        let invocation = Invocation::parse(
            Kind::As,
            quote!(
                &ctx,
                shared(countries, regions),
                (i64, String),
                "SELECT 1",
                a,
                b + 1
            ),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(invocation.ctx.to_string(), "& ctx");
        let shared: Vec<&str> = invocation.shared.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(shared, ["countries", "regions"]);
        assert!(invocation.output.is_some());
        assert_eq!(invocation.sql.value(), "SELECT 1");
        assert_eq!(invocation.args.len(), 2);
    }

    #[test]
    fn mistakes_are_errors_not_panics() {
        let error = |kind, tokens| match Invocation::parse(kind, tokens) {
            Ok(_) => panic!("accepted"),
            Err(e) => e.to_string(),
        };
        assert!(error(Kind::Query, quote!()).contains("takes the `&TenantCtx` first"));
        assert!(error(Kind::Query, quote!(ctx, sql)).contains("must be a string literal"));
        assert!(error(Kind::Query, quote!(ctx)).contains("takes the SQL"));
        assert!(error(Kind::Query, quote!(ctx, shard(x), "S")).contains("unknown option `shard`"));
        assert!(error(Kind::Query, quote!(ctx, shared(x), shared(y), "S")).contains("given twice"));
        assert!(error(Kind::Query, quote!(ctx, shared(x, x), "S")).contains("shared twice"));
        assert!(error(Kind::Query, quote!(ctx, "S", a,, b)).contains("empty argument"));
        assert!(error(Kind::Scalar, quote!(ctx, "S")).contains("value type"));
        assert!(error(Kind::Query, quote!(ctx, b"S")).contains("must be a string literal"));
    }
}
