//! `New<Entity>`: what an insert takes.

use proc_macro2::TokenStream;
use quote::quote;

use super::{Companions, is_doc_or_serde};

pub(super) fn new_struct(c: &Companions<'_>) -> TokenStream {
    let Companions {
        vis,
        name,
        new_name,
        derives,
        container_serde,
        ..
    } = c;
    let tenant = &c.tenant.column;
    let new_doc = if c.returns_on_insert {
        format!(
            "A new [`{name}`]: every field but the tenant column `{tenant}`, which the repository \
             takes from the `TenantCtx`, and the columns the database fills (a generated key, \
             defaults), which the insert returns."
        )
    } else {
        format!(
            "A new [`{name}`]: every field but the tenant column `{tenant}`, which the repository \
             takes from the `TenantCtx`."
        )
    };
    let new_fields = c.inserted.iter().map(|f| {
        let attrs = f.original.attrs.iter().filter(|a| is_doc_or_serde(a));
        let (fvis, ident, ty) = (&f.original.vis, f.ident, f.ty);
        quote!(#(#attrs)* #fvis #ident: #ty)
    });
    quote! {
        #[doc = #new_doc]
        #derives
        #(#container_serde)*
        #[allow(dead_code)]
        #vis struct #new_name {
            #(#new_fields,)*
        }
    }
}
