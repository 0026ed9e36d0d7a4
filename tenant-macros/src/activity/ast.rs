//! The typed view of an `#[activity]` function. Only the signature is parsed; the body stays a
//! token tree, so syn needs no "full" feature.

use proc_macro2::TokenStream;
use syn::parse::{Parse, ParseStream};
use syn::{
    Attribute, Generics, Ident, LitStr, ReturnType, Token, Type, Visibility, braced, parenthesized,
};

use crate::ctxt::Ctxt;

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
    /// A `self` receiver, as written: free activities cannot have one, methods in
    /// `#[tenant::activities]` hand it to the SDK (which wants `self: Arc<Self>`).
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

/// `#[activity]`, `#[activity(system = "reason")]`, and in `#[tenant::activities]` also the
/// SDK's `#[activity(name = "..")]`, handed on to it.
pub(crate) struct Arguments {
    pub(crate) system: Option<LitStr>,
    pub(crate) name: Option<syn::Expr>,
}

/// The arguments an `#[activity]` takes.
const ARGUMENTS: &[&str] = &["system", "name"];

pub(crate) fn parse_arguments(cx: &mut Ctxt, args: TokenStream) -> Arguments {
    let mut system = None;
    let mut name = None;
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("name") {
            name = Some(meta.value()?.parse()?);
            return Ok(());
        }
        if meta.path.is_ident("system") {
            let reason: syn::Expr = meta.value()?.parse()?;
            match reason {
                syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(reason),
                    ..
                }) => system = Some(reason),
                other => cx.error_with_help(
                    other,
                    "`system` takes the reason of the cross-tenant access, as a string literal",
                    "write `#[activity(system = \"nightly cleanup of expired sessions\")]`",
                ),
            }
            return Ok(());
        }
        let name = meta
            .path
            .get_ident()
            .map(ToString::to_string)
            .unwrap_or_default();
        cx.error_with_help(
            &meta.path,
            format!("unknown #[activity] argument `{name}`"),
            format!("the arguments are: {}", ARGUMENTS.join(", ")),
        );
        if meta.input.peek(Token![=]) {
            meta.value()?.parse::<syn::Expr>()?;
        }
        Ok(())
    });
    if let Err(error) = syn::parse::Parser::parse2(parser, args) {
        cx.push(error);
    }
    Arguments { system, name }
}
