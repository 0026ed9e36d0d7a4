//! Generates the entity's companions. All runtime items are named by absolute path through
//! `::tenant::__private`, so the expansion does not depend on the user's imports and survives a
//! user who shadows `Option`, `Result`, `Ok` or `Some`.

use proc_macro2::TokenStream;
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Attribute, DeriveInput};

use super::ast::{Entity, Field};
use super::attr;
use super::valid::{self, Valid};
use crate::ctxt::Ctxt;
use crate::fallback::with_error;

/// Std derives that hold for `New<Entity>` and `<Entity>Patch` whenever they hold for the
/// entity (a subset of its fields; `Option`s of them), plus serde's.
const MIRRORED_DERIVES: &[&str] = &[
    "Debug",
    "Clone",
    "Copy",
    "PartialEq",
    "Eq",
    "Hash",
    "PartialOrd",
    "Ord",
    "Serialize",
    "Deserialize",
];

pub(crate) fn tenant_scoped(args: TokenStream, input: &DeriveInput) -> TokenStream {
    let mut cx = Ctxt::default();
    let args = attr::parse_arguments(&mut cx, args);
    let entity = Entity::from_syn(&mut cx, args, input);
    let valid = entity
        .as_ref()
        .and_then(|entity| valid::check(&mut cx, entity));
    match (cx.check(), entity, valid) {
        (Ok(()), Some(entity), Some(valid)) => expand(&entity, &valid),
        (Err(error), ..) => with_error(&strip_our_attributes(input), error),
        // `valid` records an error whenever it returns `None`.
        (Ok(()), ..) => strip_our_attributes(input).into_token_stream(),
    }
}

fn strip_our_attributes(input: &DeriveInput) -> DeriveInput {
    let mut item = input.clone();
    if let syn::Data::Struct(data) = &mut item.data {
        for field in data.fields.iter_mut() {
            field.attrs.retain(|a| !attr::is_ours(a));
        }
    }
    item
}

fn is_doc_or_serde(attr: &Attribute) -> bool {
    attr.path().is_ident("doc") || attr.path().is_ident("serde")
}

/// `#[derive(..)]` with the user's paths of the mirrored derives they used on the entity.
fn mirrored_derives(input: &DeriveInput) -> TokenStream {
    let mut paths = Vec::new();
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("derive")) {
        let Ok(list) = attr.parse_args_with(
            syn::punctuated::Punctuated::<syn::Path, syn::Token![,]>::parse_terminated,
        ) else {
            continue;
        };
        paths.extend(list.into_iter().filter(|path| {
            path.segments
                .last()
                .is_some_and(|s| MIRRORED_DERIVES.iter().any(|d| s.ident == d))
        }));
    }
    if paths.is_empty() {
        TokenStream::new()
    } else {
        quote!(#[derive(#(#paths),*)])
    }
}

fn expand(entity: &Entity<'_>, valid: &Valid) -> TokenStream {
    let input = entity.input;
    let vis = &input.vis;
    let name = &input.ident;
    let new_name = format_ident!("New{}", name);
    let patch_name = format_ident!("{}Patch", name);
    let columns_name = format_ident!("{}Columns", name);
    let repo_name = format_ident!("{}Repo", name);
    let item = strip_our_attributes(input);
    let derives = mirrored_derives(input);
    let container_serde: Vec<&Attribute> = input
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("serde"))
        .collect();

    let fields = &entity.fields;
    let tenant = &fields[valid.tenant];
    let key = &fields[valid.key];
    let key_ty = key.ty;
    let table = &valid.table;

    // Field order of every list below matches the runtime's statements (see tenant-core's
    // repo/sql.rs): SELECT in struct order; INSERT binds the tenant, then the fields of New;
    // UPDATE binds the patched data fields, then tenant, then key.
    let not_tenant: Vec<&Field<'_>> = fields
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != valid.tenant)
        .map(|(_, f)| f)
        .collect();
    // The fields `New<Entity>` has: no tenant, no generated key, no column with a default.
    let filled_by_database =
        |f: &Field<'_>| f.attrs.generated.is_some() || f.attrs.column_args.default.is_some();
    let inserted: Vec<&Field<'_>> = not_tenant
        .iter()
        .copied()
        .filter(|f| !filled_by_database(f))
        .collect();
    let returns_on_insert = inserted.len() < not_tenant.len();
    let data: Vec<&Field<'_>> = fields
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != valid.tenant && i != valid.key)
        .map(|(_, f)| f)
        .collect();

    let new_fields = inserted.iter().map(|f| {
        let attrs = f.original.attrs.iter().filter(|a| is_doc_or_serde(a));
        let (fvis, ident, ty) = (&f.original.vis, f.ident, f.ty);
        quote!(#(#attrs)* #fvis #ident: #ty)
    });
    let patch_fields = data.iter().map(|f| {
        let attrs = f.original.attrs.iter().filter(|a| is_doc_or_serde(a));
        let (fvis, ident, ty) = (&f.original.vis, f.ident, f.ty);
        quote!(#(#attrs)* #fvis #ident: ::core::option::Option<#ty>)
    });
    let column_fields = not_tenant.iter().map(|f| {
        let (ident, ty) = (f.ident, f.ty);
        let doc = format!("The `{}` column.", f.column);
        quote!(#[doc = #doc] pub #ident: ::tenant::sqlx::Col<#name, #ty>)
    });
    let column_values = fields
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != valid.tenant)
        .map(|(i, f)| {
            let ident = f.ident;
            quote!(#ident: ::tenant::sqlx::Col::new::<#i>())
        });

    let column_metas = fields.iter().enumerate().map(|(i, f)| {
        let column = &f.column;
        let ty = f.ty;
        let role = if i == valid.key {
            quote!(Key)
        } else if i == valid.tenant {
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
                let nullable = crate::ty::option_inner(ty).is_some();
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
    });
    let key_index = valid.key;
    let tenant_index = valid.tenant;

    let from_new_fields = fields.iter().enumerate().map(|(i, f)| {
        let ident = f.ident;
        if i == valid.tenant {
            let ty = f.ty;
            quote_spanned!(ty.span()=>
                                #ident: <#ty as __tenant::TenantColumn>::from_tenant_id(tenant_id)
            )
        } else {
            quote!(#ident: new.#ident)
        }
    });
    // The database fills a column: the insert reads the row back instead.
    let from_new = if returns_on_insert {
        quote! {
            let _ = (new, tenant_id);
            ::core::option::Option::None
        }
    } else {
        quote!(::core::option::Option::Some(#name { #(#from_new_fields,)* }))
    };
    let supplied_key = key.attrs.generated.is_none().then(|| {
        quote! {
            #[automatically_derived]
            impl ::tenant::sqlx::SuppliedKey for #name {}
        }
    });
    let mask_bits = data.iter().enumerate().map(|(bit, f)| {
        let ident = f.ident;
        quote! {
            if patch.#ident.is_some() {
                mask |= 1u64 << #bit;
            }
        }
    });
    let decode_fields = fields.iter().enumerate().map(|(i, f)| {
        let ident = f.ident;
        quote!(#ident: DB::decode_column(row, offset + #i)?)
    });
    // One `BelongsTo<Parent>` per `#[belongs_to(Parent)]` field: the parent must be an entity
    // (the trait's bound) and the field must hold its key (`Field`'s bound), each checked where
    // the user wrote it.
    let belongs_to_impls = fields.iter().enumerate().filter_map(|(i, f)| {
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
    });
    let bind_new = inserted.iter().map(|f| {
        let ident = f.ident;
        quote!(.bind(&new.#ident))
    });
    let bind_patch = data.iter().map(|f| {
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

    let new_doc = if returns_on_insert {
        format!(
            "A new [`{name}`]: every field but the tenant column `{}`, which the repository takes \
             from the `TenantCtx`, and the columns the database fills (a generated key, \
             defaults), which the insert returns.",
            tenant.column
        )
    } else {
        format!(
            "A new [`{name}`]: every field but the tenant column `{}`, which the repository takes \
             from the `TenantCtx`.",
            tenant.column
        )
    };
    let patch_doc = format!(
        "Changes to a [`{name}`]: each `Some` field is written, each `None` left alone. The key \
         and the tenant column cannot be changed."
    );
    let columns_doc =
        format!("The filterable columns of [`{name}`], for `{repo_name}::list_where`.");
    let repo_doc = format!(
        "The repository of [`{name}`] (table `{table}`): every call takes a `&TenantCtx` and \
         only reaches that tenant's rows."
    );
    let private = quote!(__tenant);

    quote! {
        #item

        #[doc = #new_doc]
        #derives
        #(#container_serde)*
        #[allow(dead_code)]
        #vis struct #new_name {
            #(#new_fields,)*
        }

        #[doc = #patch_doc]
        #[derive(::core::default::Default)]
        #derives
        #(#container_serde)*
        #[allow(dead_code)]
        #vis struct #patch_name {
            #(#patch_fields,)*
        }

        #[doc = #columns_doc]
        #[derive(::core::fmt::Debug, ::core::clone::Clone, ::core::marker::Copy)]
        #[allow(dead_code)]
        #vis struct #columns_name {
            #(#column_fields,)*
        }

        #[doc = #repo_doc]
        #[allow(dead_code)]
        #vis type #repo_name<X> = ::tenant::sqlx::Repo<#name, X>;

        #[allow(dead_code)]
        impl #name {
            /// The filterable columns, for `list_where`.
            #vis const fn columns() -> #columns_name {
                #columns_name {
                    #(#column_values,)*
                }
            }
        }

        const _: () = {
            use ::tenant::__private as __tenant;

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

            #supplied_key

            #(#belongs_to_impls)*

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
        };
    }
}
