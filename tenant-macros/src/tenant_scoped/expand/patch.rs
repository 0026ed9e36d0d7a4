//! `<Entity>Patch`: what an update takes, each data field optional.

use proc_macro2::TokenStream;
use quote::quote;

use super::{Companions, is_doc_or_serde};

pub(super) fn patch_struct(c: &Companions<'_>) -> TokenStream {
    let Companions {
        vis,
        name,
        patch_name,
        derives,
        container_serde,
        ..
    } = c;
    let patch_doc = format!(
        "Changes to a [`{name}`]: each `Some` field is written, each `None` left alone. The key \
         and the tenant column cannot be changed."
    );
    let patch_fields = c.data.iter().map(|f| {
        let attrs = f.original.attrs.iter().filter(|a| is_doc_or_serde(a));
        let (fvis, ident, ty) = (&f.original.vis, f.ident, f.ty);
        quote!(#(#attrs)* #fvis #ident: ::core::option::Option<#ty>)
    });
    quote! {
        #[doc = #patch_doc]
        #[derive(::core::default::Default)]
        #derives
        #(#container_serde)*
        #[allow(dead_code)]
        #vis struct #patch_name {
            #(#patch_fields,)*
        }
    }
}
