//! `#[tenant_scoped]`: parse (`attr`, `ast`) → validate (`valid`) → expand (`expand`).

pub(crate) mod ast;
pub(crate) mod attr;
pub(crate) mod expand;
mod patch_serde;
mod sql_type;
mod typo;
pub(crate) mod valid;

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::DeriveInput;

use crate::ctxt::Ctxt;
use crate::fallback::with_error;

/// `#[tenant_scoped(args)]` on `input`: the struct and its companions, or, on any error, the
/// struct without our attributes followed by every error (and `expand::stand_in`).
pub(crate) fn tenant_scoped(args: TokenStream, input: &DeriveInput) -> TokenStream {
    let mut cx = Ctxt::new();
    let args = attr::parse_arguments(&mut cx, args);
    let entity = ast::Entity::from_syn(&mut cx, args, input);
    let valid = entity
        .as_ref()
        .and_then(|entity| valid::check(&mut cx, entity));
    match (cx.check(), entity, valid) {
        (Ok(()), Some(entity), Some(valid)) => expand::expand(&entity, &valid),
        (Err(error), entity, _) => {
            let mut tokens = with_error(&strip_our_attributes(input), error);
            tokens.extend(entity.as_ref().map(expand::stand_in));
            tokens
        }
        // `valid` records an error whenever it returns `None`.
        (Ok(()), ..) => strip_our_attributes(input).into_token_stream(),
    }
}

/// The user's item without the field attributes we own, which the compiler does not know.
fn strip_our_attributes(input: &DeriveInput) -> DeriveInput {
    let mut item = input.clone();
    if let syn::Data::Struct(data) = &mut item.data {
        for field in data.fields.iter_mut() {
            field.attrs.retain(|a| !attr::is_ours(a));
        }
    }
    item
}
