//! The typed view of a `#[tenant::activities]` impl block. Activity methods are parsed as
//! signatures with token-tree bodies (see `ast`); every other item is kept as written, so syn
//! needs no "full" feature here either.

use proc_macro2::{Delimiter, TokenStream, TokenTree};
use syn::parse::{Parse, ParseStream};
use syn::{Attribute, Generics, Token, Type, braced};

use super::ast::ActivityFn;

pub(crate) struct ActivitiesBlock {
    pub(crate) attrs: Vec<Attribute>,
    pub(crate) impl_token: Token![impl],
    pub(crate) generics: Generics,
    pub(crate) self_ty: Type,
    pub(crate) brace: syn::token::Brace,
    pub(crate) items: Vec<Item>,
}

pub(crate) enum Item {
    /// A method marked `#[activity]` or `#[activity(..)]`; the marker is taken off the function.
    Activity(Box<ActivityItem>),
    /// Anything else, as written.
    Verbatim(TokenStream),
}

pub(crate) struct ActivityItem {
    pub(crate) marker: Attribute,
    pub(crate) function: ActivityFn,
}

impl Parse for ActivitiesBlock {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let impl_token: Token![impl] = input.parse()?;
        let mut generics: Generics = input.parse()?;
        let self_ty: Type = input.parse()?;
        generics.where_clause = input.parse()?;
        let content;
        let brace = braced!(content in input);
        let mut items = Vec::new();
        while !content.is_empty() {
            let item_attrs = content.fork().call(Attribute::parse_outer)?;
            if item_attrs.iter().any(is_marker) {
                let mut function: ActivityFn = content.parse()?;
                let position = function
                    .attrs
                    .iter()
                    .position(is_marker)
                    .expect("the fork saw the marker");
                let marker = function.attrs.remove(position);
                items.push(Item::Activity(Box::new(ActivityItem { marker, function })));
            } else {
                items.push(Item::Verbatim(verbatim_item(&content)?));
            }
        }
        Ok(ActivitiesBlock {
            attrs,
            impl_token,
            generics,
            self_ty,
            brace,
            items,
        })
    }
}

fn is_marker(attr: &Attribute) -> bool {
    attr.path().is_ident("activity")
}

/// One associated item that is not an activity: it ends at `;`, or at the body of a `fn` or of
/// a braced macro call.
fn verbatim_item(input: ParseStream<'_>) -> syn::Result<TokenStream> {
    let mut tokens = TokenStream::new();
    let mut saw_fn = false;
    let mut after_bang = false;
    loop {
        let token: TokenTree = input.parse()?;
        let ends = match &token {
            TokenTree::Punct(p) if p.as_char() == ';' => true,
            TokenTree::Group(g) if g.delimiter() == Delimiter::Brace => saw_fn || after_bang,
            TokenTree::Ident(ident) if ident == "fn" => {
                saw_fn = true;
                false
            }
            _ => false,
        };
        after_bang = matches!(&token, TokenTree::Punct(p) if p.as_char() == '!');
        tokens.extend([token]);
        if ends || input.is_empty() {
            return Ok(tokens);
        }
    }
}
