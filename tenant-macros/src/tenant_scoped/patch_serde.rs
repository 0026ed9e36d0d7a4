//! The `#[serde(..)]` a field of `<Entity>Patch` gets. The Patch's fields are `Option<T>` of the
//! entity's `T`, so an attribute written for a `T` cannot always be copied as it is:
//!
//! - `with`, `serialize_with`, `deserialize_with` name functions of a `T`. The Patch calls them
//!   through wrappers of its own for `Some` (`None` is `null`, and a missing field is `None`);
//! - `default = ".."` makes a `T`, and `skip_serializing_if = ".."` judges one; for an `Option`
//!   they mean something else (a missing field already is `None`, "leave alone"; skipping a
//!   `Some` would turn "set" into "leave alone"), so they are refused unless the field says what
//!   its Patch gets with `#[patch(serde(..))]`. `skip_serializing_if = "Option::is_none"` (on an
//!   `Option` field) is copied: it means the same on the Patch's `Option<Option<U>>`;
//! - anything else (`rename`, `alias`, `skip`, `default`, `flatten`, ..) is copied.
//!
//! `#[patch(serde(..))]` replaces all of that for one field: its arguments are the Patch field's
//! `#[serde(..)]`, copied as written, and none of the field's own are.

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::punctuated::Punctuated;
use syn::{Attribute, Expr, ExprLit, ExprPath, Lit, LitStr, Meta, Token};

use super::typo::suggestion;
use crate::ctxt::Ctxt;
use crate::meta::{path_name, skip_value};

/// The arguments of `#[patch(..)]`.
const PATCH_ARGUMENTS: &[&str] = &["serde"];

/// Spellings of `Option::is_none`, which judges the Patch's `Option<Option<U>>` as it judges the
/// entity's `Option<U>`.
const IS_NONE: &[&str] = &[
    "Option::is_none",
    "std::option::Option::is_none",
    "core::option::Option::is_none",
    "::std::option::Option::is_none",
    "::core::option::Option::is_none",
];

/// What a Patch field's serde attributes are.
#[derive(Default)]
pub(crate) struct PatchSerde {
    /// The arguments copied into the Patch field's `#[serde(..)]`, each as written.
    pub(crate) copied: Vec<TokenStream>,
    /// The function that serializes a `T` (`with`'s `serialize`, or `serialize_with`).
    pub(crate) serialize_with: Option<ExprPath>,
    /// The function that deserializes a `T` (`with`'s `deserialize`, or `deserialize_with`).
    pub(crate) deserialize_with: Option<ExprPath>,
    /// The field's own bare `default` was copied (the `deserialize_with` wrapper adds one
    /// otherwise).
    pub(crate) has_default: bool,
}

/// Reads `#[patch(..)]` and the field's `#[serde(..)]` for the Patch `patch_name`.
pub(crate) fn parse(cx: &mut Ctxt, attrs: &[Attribute], patch_name: &str) -> PatchSerde {
    let mut own: Option<TokenStream> = None;
    let mut patch_attr: Option<&Attribute> = None;
    for attr in attrs.iter().filter(|a| a.path().is_ident("patch")) {
        if patch_attr.is_some() {
            cx.error_with_help(
                attr,
                "duplicate `#[patch(..)]`",
                "put the Patch field's serde arguments in one `#[patch(serde(..))]`",
            );
            continue;
        }
        patch_attr = Some(attr);
        own = parse_patch(cx, attr).or(own);
    }
    if let Some(tokens) = own {
        return PatchSerde {
            copied: if tokens.is_empty() {
                Vec::new()
            } else {
                vec![tokens]
            },
            ..PatchSerde::default()
        };
    }
    let mut out = PatchSerde::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("serde")) {
        let Ok(list) = attr.parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated) else {
            // Not ours to judge: serde reports its own syntax on the entity.
            if let Meta::List(list) = &attr.meta {
                out.copied.push(list.tokens.clone());
            }
            continue;
        };
        for meta in list {
            translate(cx, meta, patch_name, &mut out);
        }
    }
    out
}

/// The arguments of `#[patch(serde(..))]`, or `None` after an error.
fn parse_patch(cx: &mut Ctxt, attr: &Attribute) -> Option<TokenStream> {
    const HELP: &str = "write `#[patch(serde(..))]` with the `#[serde(..)]` arguments the Patch's \
                        `Option` field gets, e.g. `#[patch(serde(rename = \"issued\"))]`";
    if !matches!(attr.meta, Meta::List(_)) {
        cx.error_with_help(&attr.meta, "`#[patch]` needs arguments", HELP);
        return None;
    }
    let mut serde: Option<TokenStream> = None;
    let mut reported = false;
    let result = attr.parse_nested_meta(|meta| {
        if meta.path.is_ident("serde") {
            let content;
            syn::parenthesized!(content in meta.input);
            let tokens: TokenStream = content.parse()?;
            if serde.is_some() {
                cx.error_with_help(&meta.path, "duplicate `serde(..)`", "give `serde(..)` once");
            } else {
                serde = Some(tokens);
            }
            return Ok(());
        }
        reported = true;
        let name = path_name(&meta.path);
        let hint = suggestion(&name, PATCH_ARGUMENTS);
        cx.error_with_help(
            &meta.path,
            format!("unknown #[patch] argument `{name}`"),
            format!("{hint}the arguments are: {}", PATCH_ARGUMENTS.join(", ")),
        );
        skip_value(&meta)
    });
    if let Err(error) = result {
        cx.push(error);
        return None;
    }
    // A misspelled `serde` was reported already; its absence is no news.
    if serde.is_none() && !reported {
        cx.error_with_help(&attr.meta, "`#[patch(..)]` without `serde(..)`", HELP);
    }
    serde
}

/// One argument of the field's `#[serde(..)]`, as the Patch takes it.
fn translate(cx: &mut Ctxt, meta: Meta, patch_name: &str, out: &mut PatchSerde) {
    let name = path_name(meta.path());
    let value = match &meta {
        Meta::NameValue(nv) => match &nv.value {
            Expr::Lit(ExprLit {
                lit: Lit::Str(s), ..
            }) => Some(s.clone()),
            _ => None,
        },
        _ => None,
    };
    match (name.as_str(), value) {
        ("with", Some(module)) => {
            out.serialize_with = function(&module, "serialize");
            out.deserialize_with = function(&module, "deserialize");
        }
        ("serialize_with", Some(f)) => out.serialize_with = function(&f, ""),
        ("deserialize_with", Some(f)) => out.deserialize_with = function(&f, ""),
        ("default", Some(f)) => cx.error_with_help(
            &meta,
            format!(
                "`default = {:?}` makes a value of the field's type, but `{patch_name}` holds an \
                 `Option` of it, and a field missing from a patch is `None` (left alone)",
                f.value()
            ),
            format!(
                "the entity and the New type keep it; say what `{patch_name}` gets with \
                 `#[patch(serde(..))]`, e.g. `#[patch(serde(default))]`"
            ),
        ),
        ("skip_serializing_if", Some(f))
            if !IS_NONE.contains(&f.value().replace(char::is_whitespace, "").as_str()) =>
        {
            cx.error_with_help(
                &meta,
                format!(
                    "`skip_serializing_if = {:?}` judges a value of the field's type, but \
                     `{patch_name}` holds an `Option` of it, and a change must be written (a \
                     skipped `Some` would read back as `None`, left alone)",
                    f.value()
                ),
                format!(
                    "the entity and the New type keep it; say what `{patch_name}` gets with \
                     `#[patch(serde(..))]`, e.g. \
                     `#[patch(serde(skip_serializing_if = \"Option::is_none\"))]`"
                ),
            );
        }
        _ => {
            out.has_default |= matches!(&meta, Meta::Path(p) if p.is_ident("default"));
            out.copied.push(meta.into_token_stream());
        }
    }
}

/// `lit`'s path (spanned at the user's string), followed by `::function` unless empty. A string
/// that is no path is left to serde, which reports it on the entity.
fn function(lit: &LitStr, function: &str) -> Option<ExprPath> {
    let mut path: ExprPath = lit.parse().ok()?;
    if !function.is_empty() {
        path.path
            .segments
            .push(syn::Ident::new(function, lit.span()).into());
    }
    Some(path)
}
