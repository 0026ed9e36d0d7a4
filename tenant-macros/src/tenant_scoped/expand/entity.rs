//! `impl Entity`: the table's metadata (`META`), how a `New` becomes a row, and which fields a
//! patch sets; plus `SuppliedKey` when the caller gives the key.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use super::Companions;
use crate::ty;

pub(super) fn entity_impl(c: &Companions<'_>) -> TokenStream {
    let Companions {
        name,
        new_name,
        patch_name,
        ..
    } = c;
    let key_ty = c.key.ty;
    let table = &c.valid.table;
    let column_metas = column_metas(c);
    let key_index = c.valid.key;
    let tenant_index = c.valid.tenant;
    let from_new = from_new(c);
    let mask_bits = c.data.iter().enumerate().map(|(bit, f)| {
        let ident = f.ident;
        quote! {
            if patch.#ident.is_some() {
                mask |= 1u64 << #bit;
            }
        }
    });
    let private = quote!(__tenant);
    quote! {
        static STATEMENTS: #private::Statements = #private::Statements::new();

        #[automatically_derived]
        impl ::tenant::sqlx::Entity for #name {
            type Key = #key_ty;
            type New = #new_name;
            type Patch = #patch_name;

            const META: &'static #private::EntityMeta = &#private::EntityMeta {
                table: #table,
                columns: &[#(#column_metas,)*],
                key: #key_index,
                tenant: #tenant_index,
            };

            fn statements() -> &'static #private::Statements {
                &STATEMENTS
            }

            fn from_new(
                new: #new_name,
                tenant_id: ::tenant::TenantId,
            ) -> ::core::option::Option<Self> {
                #from_new
            }

            fn patch_mask(patch: &#patch_name) -> u64 {
                let mut mask = 0u64;
                #(#mask_bits)*
                mask
            }
        }
    }
}

/// One `ColumnMeta` per field, in struct order: its role, SQL type (the field type's, or the
/// declared one), index flags, default and parent.
fn column_metas(c: &Companions<'_>) -> Vec<TokenStream> {
    let name = c.name;
    c.entity
        .fields
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let column = &f.column;
            let ty = f.ty;
            let role = if i == c.valid.key {
                quote!(Key)
            } else if i == c.valid.tenant {
                quote!(Tenant)
            } else {
                quote!(Data)
            };
            let unique = f.attrs.unique.is_some();
            let indexed = f.attrs.index.is_some();
            let generated = f.attrs.generated.as_ref().map(|_| quote!(.generated()));
            let default = f
                .attrs
                .column_args
                .default
                .as_ref()
                .map(|sql| quote!(.with_default(#sql)));
            let belongs_to = f.attrs.parent.as_ref().map(|parent| {
                quote_spanned!(parent.span()=> .belongs_to(<#name as ::tenant::sqlx::BelongsTo<#parent>>::parent_meta))
            });
            let meta = match &f.attrs.column_args.ddl_type {
                Some(ddl_type) => {
                    let nullable = ty::option_inner(ty).is_some();
                    quote! {
                        __tenant::ColumnMeta::declared(
                            #column, __tenant::ColumnRole::#role, #ddl_type, #nullable, #unique, #indexed,
                        )
                    }
                }
                None => quote! {
                    __tenant::ColumnMeta::of::<#ty>(#column, __tenant::ColumnRole::#role, #unique, #indexed)
                },
            };
            quote! {
                #meta #generated #default #belongs_to
            }
        })
        .collect()
}

/// The body of `from_new`: the row an insert wrote, when every column came from the `New` and
/// the tenant; `None` when the database fills one, so the insert reads the row back instead.
fn from_new(c: &Companions<'_>) -> TokenStream {
    if c.returns_on_insert {
        return quote! {
            let _ = (new, tenant_id);
            ::core::option::Option::None
        };
    }
    let name = c.name;
    let fields = c.entity.fields.iter().enumerate().map(|(i, f)| {
        let ident = f.ident;
        if i == c.valid.tenant {
            let ty = f.ty;
            quote_spanned!(ty.span()=>
                                #ident: <#ty as __tenant::TenantColumn>::from_tenant_id(tenant_id)
            )
        } else {
            quote!(#ident: new.#ident)
        }
    });
    quote!(::core::option::Option::Some(#name { #(#fields,)* }))
}

/// `SuppliedKey`, which the insert that takes the key from the caller requires.
pub(super) fn supplied_key(c: &Companions<'_>) -> TokenStream {
    let name = c.name;
    if c.key.attrs.generated.is_some() {
        return TokenStream::new();
    }
    quote! {
        #[automatically_derived]
        impl ::tenant::sqlx::SuppliedKey for #name {}
    }
}
