//! The arguments of each `#[activity]` marker of a block (`system = ".."`, the SDK's
//! `name = ..`), read for every activity before anything is checked or generated.

use proc_macro2::TokenStream;
use syn::{Attribute, LitStr};

use super::ast::ActivityFn;
use super::block::{ActivitiesBlock, Item};
use crate::ctxt::Ctxt;
use crate::meta::{parse_lit_str, path_name, skip_value};

/// An `#[activity]` method of the block with its marker's arguments.
pub(crate) struct Activity<'a> {
    pub(crate) function: &'a ActivityFn,
    pub(crate) args: Arguments,
}

/// `#[activity]`, `#[activity(system = "reason")]`, and the SDK's `#[activity(name = "..")]`,
/// handed on to it.
#[derive(Default)]
pub(crate) struct Arguments {
    pub(crate) system: Option<LitStr>,
    pub(crate) name: Option<syn::Expr>,
}

/// The arguments an `#[activity]` takes.
const ARGUMENTS: &[&str] = &["system", "name"];

/// The block's `#[activity]` methods with their arguments. Every malformed argument is recorded;
/// `#[tenant::activities]` itself takes none.
pub(crate) fn activities<'a>(
    cx: &mut Ctxt,
    args: &TokenStream,
    block: &'a ActivitiesBlock,
) -> Vec<Activity<'a>> {
    if !args.is_empty() {
        cx.error_with_help(
            args,
            "#[tenant::activities] takes no arguments",
            "put `name = \"..\"` or `system = \"..\"` on the `#[activity]` of a method",
        );
    }
    block
        .items
        .iter()
        .filter_map(|item| match item {
            Item::Activity(activity) => Some(Activity {
                function: &activity.function,
                args: parse_marker(cx, &activity.marker),
            }),
            Item::Verbatim(_) => None,
        })
        .collect()
}

fn parse_marker(cx: &mut Ctxt, marker: &Attribute) -> Arguments {
    match &marker.meta {
        syn::Meta::Path(_) => Arguments::default(),
        syn::Meta::List(list) => parse_arguments(cx, list.tokens.clone()),
        syn::Meta::NameValue(meta) => {
            cx.error_with_help(
                meta,
                "write `#[activity]` or `#[activity(system = \"..\")]`",
                format!("the arguments are: {}", ARGUMENTS.join(", ")),
            );
            Arguments::default()
        }
    }
}

fn parse_arguments(cx: &mut Ctxt, args: TokenStream) -> Arguments {
    let mut system = None;
    let mut name = None;
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("name") {
            name = Some(meta.value()?.parse()?);
            return Ok(());
        }
        if meta.path.is_ident("system") {
            if let Some(reason) = parse_lit_str(
                cx,
                &meta,
                "`system` takes the reason of the cross-tenant access, as a string literal",
                "write `#[activity(system = \"nightly cleanup of expired sessions\")]`",
            )? {
                system = Some(reason);
            }
            return Ok(());
        }
        cx.error_with_help(
            &meta.path,
            format!("unknown #[activity] argument `{}`", path_name(&meta.path)),
            format!("the arguments are: {}", ARGUMENTS.join(", ")),
        );
        skip_value(&meta)
    });
    if let Err(error) = syn::parse::Parser::parse2(parser, args) {
        cx.push(error);
    }
    Arguments { system, name }
}
