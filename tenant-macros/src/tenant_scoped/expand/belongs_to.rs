//! One `BelongsTo<Parent>` per `#[belongs_to(Parent)]` field: the parent must be an entity (the
//! trait's bound) and the field must hold its key (`Field`'s bound), each checked where the user
//! wrote it.

use proc_macro2::TokenStream;
use quote::quote_spanned;
use syn::spanned::Spanned;

use super::Companions;

pub(super) fn belongs_to_impls(c: &Companions<'_>) -> Vec<TokenStream> {
    let name = c.name;
    c.entity
        .fields
        .iter()
        .enumerate()
        .filter_map(|(i, f)| {
            let parent = f.attrs.parent.as_ref()?;
            let ty = f.ty;
            let field_ty = quote_spanned!(ty.span()=> type Field = #ty;);
            Some(quote_spanned! {parent.span()=>
                #[automatically_derived]
                impl ::tenant::sqlx::BelongsTo<#parent> for #name {
                    #field_ty
                    const COLUMN: usize = #i;
                }
            })
        })
        .collect()
}
