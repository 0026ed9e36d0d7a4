//! `<Entity>Columns` and `<Entity>::columns()`: the typed columns filters are written with.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::Companions;
use crate::tenant_scoped::ast::Entity;

pub(super) fn columns_struct(c: &Companions<'_>) -> TokenStream {
    let Companions {
        vis,
        name,
        columns_name,
        repo_name,
        ..
    } = c;
    let columns_doc =
        format!("The filterable columns of [`{name}`], for `{repo_name}::list_where`.");
    let column_fields = c.not_tenant.iter().map(|f| {
        let (ident, ty) = (f.ident, f.ty);
        let doc = format!("The `{}` column.", f.column);
        quote!(#[doc = #doc] pub #ident: ::tenant::sqlx::Col<#name, #ty>)
    });
    quote! {
        #[doc = #columns_doc]
        #[derive(::core::fmt::Debug, ::core::clone::Clone, ::core::marker::Copy)]
        #[allow(dead_code)]
        #vis struct #columns_name {
            #(#column_fields,)*
        }
    }
}

/// `<Entity>::columns()`. Each column carries its index in the struct, which is its index in
/// `Entity::META`.
pub(super) fn columns_fn(c: &Companions<'_>) -> TokenStream {
    let Companions {
        vis,
        name,
        columns_name,
        ..
    } = c;
    let column_values = c
        .entity
        .fields
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != c.valid.tenant)
        .map(|(i, f)| {
            let ident = f.ident;
            quote!(#ident: ::tenant::sqlx::Col::new::<#i>())
        });
    quote! {
        #[allow(dead_code)]
        impl #name {
            /// The filterable columns, for `list_where`.
            #vis const fn columns() -> #columns_name {
                #columns_name {
                    #(#column_values,)*
                }
            }
        }
    }
}

/// What an entity the macro rejected still gets: `<Entity>Columns` and a `columns()` that never
/// runs (the build fails on our error first), so code that filters on its columns reports
/// nothing beyond that error. The other companions need no stand-in: rustc does not report
/// unresolved names after a macro's error, but it does report a missing associated function,
/// which it looks up later, while type checking. Not for a generic struct, whose `impl` would
/// need parameters it lacks.
pub(crate) fn stand_in(entity: &Entity<'_>) -> TokenStream {
    let input = entity.input;
    if !input.generics.params.is_empty() {
        return TokenStream::new();
    }
    let (vis, name) = (&input.vis, &input.ident);
    let columns_name = format_ident!("{}Columns", name);
    let column_fields = entity
        .fields
        .iter()
        .filter(|f| f.attrs.tenant.is_none())
        .map(|f| {
            let (ident, ty) = (f.ident, f.ty);
            let doc = format!("The `{}` column.", f.column);
            quote!(#[doc = #doc] pub #ident: ::tenant::sqlx::Col<#name, #ty>)
        });
    let columns_doc = format!("The filterable columns of [`{name}`].");
    quote! {
        #[doc = #columns_doc]
        #[allow(dead_code)]
        #vis struct #columns_name {
            #(#column_fields,)*
        }

        #[allow(dead_code)]
        impl #name {
            /// The filterable columns, for `list_where`.
            #vis const fn columns() -> #columns_name {
                ::core::unreachable!()
            }
        }
    }
}
