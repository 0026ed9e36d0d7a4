//! Generates `<FnName>Input`: the payload that crosses the workflow engine, carrying the tenant
//! context as a typed field, and its `run`.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::ast::{ActivityFn, Arguments, parse_arguments};
use super::valid::{self, Context};
use crate::ctxt::Ctxt;

pub(crate) fn activity(args: TokenStream, input: TokenStream) -> TokenStream {
    let item: ActivityFn = match syn::parse2(input.clone()) {
        Ok(item) => item,
        Err(error) => {
            let error = error.to_compile_error();
            return quote!(#input #error);
        }
    };
    let mut cx = Ctxt::default();
    let args: Arguments = parse_arguments(&mut cx, args);
    let context = valid::check(&mut cx, &item, args);
    let function = function(&item);
    match (cx.check(), context) {
        (Ok(()), Some(context)) => {
            let companion = expand(&item, &context);
            quote!(#function #companion)
        }
        (result, _) => {
            let error = result.err().map(|e| e.to_compile_error());
            quote!(#function #error)
        }
    }
}

/// The user's function, as written.
fn function(item: &ActivityFn) -> TokenStream {
    let ActivityFn {
        attrs,
        vis,
        asyncness,
        fn_token,
        ident,
        generics,
        params,
        output,
        body,
        ..
    } = item;
    let where_clause = &generics.where_clause;
    let params = params.iter().map(|p| {
        let (mutability, ident, ty) = (&p.mutability, &p.ident, &p.ty);
        quote!(#mutability #ident: #ty)
    });
    quote!(#(#attrs)* #vis #asyncness #fn_token #ident #generics (#(#params),*) #output #where_clause #body)
}

fn pascal_case(snake: &str) -> String {
    snake
        .trim_start_matches("r#")
        .split('_')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|first| first.to_uppercase().chain(chars).collect::<String>())
                .unwrap_or_default()
        })
        .collect()
}

fn expand(item: &ActivityFn, context: &Context) -> TokenStream {
    let vis = &item.vis;
    let function = &item.ident;
    let input = format_ident!(
        "{}Input",
        pascal_case(&function.to_string()),
        span = function.span()
    );
    let output = match &item.output {
        syn::ReturnType::Default => quote!(()),
        syn::ReturnType::Type(_, ty) => quote!(#ty),
    };
    let rest = &item.params[1..];
    let fields = rest.iter().map(|p| {
        let (ident, ty) = (&p.ident, &p.ty);
        quote!(pub #ident: #ty)
    });
    let arguments = rest.iter().map(|p| {
        let ident = &p.ident;
        quote!(self.#ident)
    });
    let private = quote!(::tenant::__private);
    match context {
        Context::Tenant => {
            let ctx = &item.params[0].ident;
            let doc = format!(
                "The input of the activity [`{function}`]: the payload that crosses the workflow \
                 engine. The tenant context travels in it as a typed field; a payload whose `{ctx}` \
                 is missing or invalid does not deserialise, so the activity never runs without a \
                 tenant."
            );
            quote! {
                #[doc = #doc]
                #[derive(#private::serde::Serialize, #private::serde::Deserialize)]
                #[serde(crate = "::tenant::__private::serde", deny_unknown_fields)]
                #vis struct #input {
                    /// The tenant the activity runs for.
                    pub #ctx: ::tenant::TenantCtx,
                    #(#[allow(missing_docs)] #fields,)*
                }

                impl #input {
                    /// Runs the activity with this input.
                    #[allow(dead_code)]
                    #vis async fn run(self) -> #output {
                        #function(self.#ctx, #(#arguments),*).await
                    }
                }
            }
        }
        Context::System(reason) => {
            let doc = format!(
                "The input of the system activity [`{function}`]. It carries no tenant: the \
                 worker builds the `SystemCtx` (reason: {:?}), audited at every use.",
                reason.value()
            );
            quote! {
                #[doc = #doc]
                #[derive(#private::serde::Serialize, #private::serde::Deserialize)]
                #[serde(crate = "::tenant::__private::serde", deny_unknown_fields)]
                #vis struct #input {
                    #(#[allow(missing_docs)] #fields,)*
                }

                impl #input {
                    /// The reason recorded with every use of this activity's `SystemCtx`.
                    #[allow(dead_code)]
                    #vis const REASON: &'static str = #reason;

                    /// Runs the activity with this input, under a fresh audited `SystemCtx`.
                    #[allow(dead_code)]
                    #vis async fn run(self) -> #output {
                        #function(#private::system_ctx_for_activity(#reason), #(#arguments),*).await
                    }
                }
            }
        }
    }
}
