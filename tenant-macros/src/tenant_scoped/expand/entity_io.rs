//! `impl EntityIo<DB>`: decoding a row and binding keys, `New`s and patches, for every backend
//! whose column values the fields' types are.

use proc_macro2::TokenStream;
use quote::quote;

use super::Companions;

pub(super) fn entity_io_impl(c: &Companions<'_>) -> TokenStream {
    let Companions {
        name,
        new_name,
        patch_name,
        ..
    } = c;
    let key_ty = c.key.ty;
    let fields = &c.entity.fields;
    let decode_fields = fields.iter().enumerate().map(|(i, f)| {
        let ident = f.ident;
        quote!(#ident: DB::decode_column(row, offset + #i)?)
    });
    let bind_new = c.inserted.iter().map(|f| {
        let ident = f.ident;
        quote!(.bind(&new.#ident))
    });
    let bind_patch = c.data.iter().map(|f| {
        let ident = f.ident;
        quote! {
            if let ::core::option::Option::Some(value) = patch.#ident {
                query = query.bind(value);
            }
        }
    });
    // Repeated types give repeated bounds, which cost the compiler less than deduplicating
    // them as text costs the macro.
    let bounded_types = fields.iter().map(|f| f.ty);
    let private = quote!(__tenant);
    quote! {
        #[automatically_derived]
        impl<DB: ::tenant::sqlx::Backend> #private::EntityIo<DB> for #name
        where
            #(#bounded_types: #private::ColumnValue<DB>,)*
        {
            fn decode_row_at(
                row: &<DB as #private::sqlx::Database>::Row,
                offset: usize,
            ) -> ::core::result::Result<Self, #private::sqlx::Error> {
                ::core::result::Result::Ok(#name {
                    #(#decode_fields,)*
                })
            }

            fn bind_key(
                query: #private::Query<'_, DB>,
                key: #key_ty,
            ) -> #private::Query<'_, DB> {
                query.bind(key)
            }

            fn bind_new<'q>(
                query: #private::Query<'q, DB>,
                new: &#new_name,
            ) -> #private::Query<'q, DB> {
                query #(#bind_new)*
            }

            fn bind_patch(
                query: #private::Query<'_, DB>,
                patch: #patch_name,
            ) -> #private::Query<'_, DB> {
                let mut query = query;
                #(#bind_patch)*
                query
            }
        }
    }
}
