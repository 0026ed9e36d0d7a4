//! `<Entity>Patch`: what an update takes, each data field optional. Its serde attributes are
//! the field's, as `patch_serde` translated them for an `Option`: a `with`, `serialize_with` or
//! `deserialize_with` of the field's type is called through a wrapper of the Patch's own, a
//! hidden associated function, for `Some`.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::Companions;
use crate::tenant_scoped::ast::Field;

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
    let mut wrappers = Vec::new();
    let patch_fields = c.data.iter().map(|f| {
        let docs = f.original.attrs.iter().filter(|a| a.path().is_ident("doc"));
        let serde = field_serde(c, f, &mut wrappers);
        let (fvis, ident, ty) = (&f.original.vis, f.ident, f.ty);
        quote!(#(#docs)* #serde #fvis #ident: ::core::option::Option<#ty>)
    });
    let patch_fields: Vec<TokenStream> = patch_fields.collect();
    let wrappers = (!wrappers.is_empty()).then(|| {
        quote! {
            #[allow(dead_code, non_snake_case)]
            impl #patch_name {
                #(#wrappers)*
            }
        }
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

        #wrappers
    }
}

/// The Patch field's `#[serde(..)]`, pushing the wrappers it names onto `wrappers`.
fn field_serde(c: &Companions<'_>, f: &Field<'_>, wrappers: &mut Vec<TokenStream>) -> TokenStream {
    let patch_name = &c.patch_name;
    let ty = f.ty;
    let serde = quote!(::tenant::__private::serde);
    let ps = &f.patch_serde;
    let mut args: Vec<TokenStream> = ps.copied.clone();
    if let (Some(function), true) = (&ps.serialize_with, c.serialize) {
        let wrapper = format_ident!("__tenant_serialize_{}", f.column);
        let path = format!("{patch_name}::{wrapper}");
        args.push(quote!(serialize_with = #path));
        wrappers.push(quote! {
            #[doc(hidden)]
            fn #wrapper<__S>(
                value: &::core::option::Option<#ty>,
                serializer: __S,
            ) -> ::core::result::Result<__S::Ok, __S::Error>
            where
                __S: #serde::Serializer,
            {
                struct __With<'__a>(&'__a #ty);
                impl #serde::Serialize for __With<'_> {
                    fn serialize<__S2>(
                        &self,
                        serializer: __S2,
                    ) -> ::core::result::Result<__S2::Ok, __S2::Error>
                    where
                        __S2: #serde::Serializer,
                    {
                        #function(self.0, serializer)
                    }
                }
                match value {
                    ::core::option::Option::Some(value) => {
                        #serde::Serializer::serialize_some(serializer, &__With(value))
                    }
                    ::core::option::Option::None => #serde::Serializer::serialize_none(serializer),
                }
            }
        });
    }
    if let (Some(function), true) = (&ps.deserialize_with, c.deserialize) {
        let wrapper = format_ident!("__tenant_deserialize_{}", f.column);
        let path = format!("{patch_name}::{wrapper}");
        args.push(quote!(deserialize_with = #path));
        // With `deserialize_with`, serde no longer treats a missing `Option` field as `None`.
        if !ps.has_default {
            args.push(quote!(default));
        }
        wrappers.push(quote! {
            #[doc(hidden)]
            fn #wrapper<'de, __D>(
                deserializer: __D,
            ) -> ::core::result::Result<::core::option::Option<#ty>, __D::Error>
            where
                __D: #serde::Deserializer<'de>,
            {
                struct __With(#ty);
                impl<'de> #serde::Deserialize<'de> for __With {
                    fn deserialize<__D2>(
                        deserializer: __D2,
                    ) -> ::core::result::Result<Self, __D2::Error>
                    where
                        __D2: #serde::Deserializer<'de>,
                    {
                        ::core::result::Result::map(#function(deserializer), __With)
                    }
                }
                ::core::result::Result::map(
                    <::core::option::Option<__With> as #serde::Deserialize<'de>>::deserialize(
                        deserializer,
                    ),
                    |value| ::core::option::Option::map(value, |value| value.0),
                )
            }
        });
    }
    if args.is_empty() {
        TokenStream::new()
    } else {
        quote!(#[serde(#(#args),*)])
    }
}
