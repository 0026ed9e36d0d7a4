//! The typed view of an `#[activity]` method. Only the signature is parsed; the body stays a
//! token tree, so syn needs no "full" feature.

use proc_macro2::TokenStream;
use quote::{ToTokens, quote};
use syn::parse::{Parse, ParseStream};
use syn::{Attribute, Generics, Ident, ReturnType, Token, Type, Visibility, braced, parenthesized};

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
