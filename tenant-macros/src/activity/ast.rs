//! The typed view of an `#[activity]` method and of its marker's arguments. Only the signature is
//! parsed; the body stays a token tree, so syn needs no "full" feature.

use proc_macro2::TokenStream;
use quote::{ToTokens, quote};
use syn::parse::{Parse, ParseStream};
use syn::{
    Attribute, Generics, Ident, LitStr, ReturnType, Token, Type, Visibility, braced, parenthesized,
};

use super::block::{ActivitiesBlock, Item};
use crate::ctxt::Ctxt;
use crate::meta::{parse_lit_str, path_name, skip_value};

/// One `name: Type` parameter.
pub(crate) struct Param {
    pub(crate) mutability: Option<Token![mut]>,
    pub(crate) ident: Ident,
    pub(crate) ty: Type,
}

/// `self`, `&self`, `self: Arc<Self>`, ..., kept as written.
pub(crate) struct Receiver {
    pub(crate) tokens: TokenStream,
}

pub(crate) struct ActivityFn {
    pub(crate) attrs: Vec<Attribute>,
    pub(crate) vis: Visibility,
    pub(crate) asyncness: Option<Token![async]>,
    pub(crate) fn_token: Token![fn],
    pub(crate) ident: Ident,
    pub(crate) generics: Generics,
    /// The `self` receiver, as written, if any: handed to the SDK (which wants `self: Arc<Self>`).
    pub(crate) receiver: Option<Receiver>,
    pub(crate) params: Vec<Param>,
    pub(crate) output: ReturnType,
    pub(crate) body: TokenStream,
}

impl Parse for ActivityFn {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis: Visibility = input.parse()?;
        let asyncness: Option<Token![async]> = input.parse()?;
        let fn_token: Token![fn] = input.parse()?;
        let ident: Ident = input.parse()?;
        let mut generics: Generics = input.parse()?;
        let content;
        parenthesized!(content in input);
        let mut receiver = None;
        let mut params = Vec::new();
        while !content.is_empty() {
            if content.peek(Token![self])
                || (content.peek(Token![&])
                    && (content.peek2(Token![self]) || content.peek2(syn::Lifetime)))
                || (content.peek(Token![mut]) && content.peek2(Token![self]))
            {
                let mut tokens = TokenStream::new();
                while !content.is_empty() && !content.peek(Token![,]) {
                    tokens.extend([content.parse::<proc_macro2::TokenTree>()?]);
                }
                receiver = Some(Receiver { tokens });
            } else {
                let mutability = content.parse()?;
                let ident = content.parse()?;
                content.parse::<Token![:]>()?;
                let ty = content.parse()?;
                params.push(Param {
                    mutability,
                    ident,
                    ty,
                });
            }
            if !content.is_empty() {
                content.parse::<Token![,]>()?;
            }
        }
        let output = input.parse()?;
        generics.where_clause = input.parse()?;
        let body_content;
        let brace = braced!(body_content in input);
        let inner: TokenStream = body_content.parse()?;
        let mut body = TokenStream::new();
        let mut group = proc_macro2::Group::new(proc_macro2::Delimiter::Brace, inner);
        group.set_span(brace.span.join());
        body.extend([proc_macro2::TokenTree::Group(group)]);
        Ok(ActivityFn {
            attrs,
            vis,
            asyncness,
            fn_token,
            ident,
            generics,
            receiver,
            params,
            output,
            body,
        })
    }
}

impl ToTokens for ActivityFn {
    /// The function as written, without its `#[activity]` marker (taken off by the block).
    fn to_tokens(&self, tokens: &mut TokenStream) {
        let ActivityFn {
            attrs,
            vis,
            asyncness,
            fn_token,
            ident,
            generics,
            receiver,
            params,
            output,
            body,
        } = self;
        let where_clause = &generics.where_clause;
        let receiver = receiver.as_ref().map(|r| quote!(#r,));
        tokens.extend(quote! {
            #(#attrs)* #vis #asyncness #fn_token #ident #generics (#receiver #(#params),*) #output #where_clause #body
        });
    }
}

impl ToTokens for Param {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        let Param {
            mutability,
            ident,
            ty,
        } = self;
        tokens.extend(quote!(#mutability #ident: #ty));
    }
}

impl ToTokens for Receiver {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        self.tokens.to_tokens(tokens);
    }
}

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
