//! Pieces of argument parsing both macros share: `name = "string"` values, skipping a rejected
//! argument's value so the ones after it are still checked, and an argument's name for messages.

use std::fmt::Display;

use syn::LitStr;
use syn::meta::ParseNestedMeta;

use crate::ctxt::Ctxt;

/// The string literal of `name = ".."`. Anything else is recorded as an error on the value the
/// user wrote, with `message` and `help`, and gives `None`.
pub(crate) fn parse_lit_str(
    cx: &mut Ctxt,
    meta: &ParseNestedMeta<'_>,
    message: impl Display,
    help: impl Display,
) -> syn::Result<Option<LitStr>> {
    match meta.value()?.parse()? {
        syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Str(value),
            ..
        }) => Ok(Some(value)),
        other => {
            cx.error_with_help(&other, message, help);
            Ok(None)
        }
    }
}

/// Skips an argument's value (`= expr` or `(..)`) so the remaining arguments are still checked.
pub(crate) fn skip_value(meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
    if meta.input.peek(syn::Token![=]) {
        meta.value()?.parse::<syn::Expr>()?;
    } else if !meta.input.is_empty() && !meta.input.peek(syn::Token![,]) {
        // One token tree, `(..)`: the arguments after it are still to be read.
        let _skipped: proc_macro2::TokenTree = meta.input.parse()?;
    }
    Ok(())
}

/// An argument's name as written, `a::b` for a path.
pub(crate) fn path_name(path: &syn::Path) -> String {
    path.segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect::<Vec<_>>()
        .join("::")
}
