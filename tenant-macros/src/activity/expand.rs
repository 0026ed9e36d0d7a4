//! Generates `<FnName>Input`: the payload that crosses the workflow engine, carrying the tenant
//! context as a typed field; for a free function its `run`, and for the methods of a
//! `#[tenant::activities]` block the SDK-facing method that opens the input before the body.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};

use super::ast::{ActivityFn, Param, parse_arguments};
use super::block::{ActivitiesBlock, Item};
use super::valid::{self, Context};
use crate::ctxt::Ctxt;
use crate::fallback::{parse_or_echo, with_error};

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

fn input_ident(function: &syn::Ident) -> syn::Ident {
    format_ident!(
        "{}Input",
        pascal_case(&function.to_string()),
        span = function.span()
    )
}

/// `<FnName>Input`. `ctx` is the context parameter (carried, as a claim, only for a tenant
/// activity) and `rest` the parameters after it; `target` is what its doc links to.
fn input_struct(
    item: &ActivityFn,
    context: &Context,
    ctx: &Param,
    rest: &[Param],
    target: &str,
) -> TokenStream {
    let vis = &item.vis;
    let input = input_ident(&item.ident);
    let fields = rest.iter().map(|p| {
        let (ident, ty) = (&p.ident, &p.ty);
        quote!(#[allow(missing_docs)] pub #ident: #ty,)
    });
    let private = quote!(::tenant::__private);
    match context {
        Context::Tenant => {
            let ctx = &ctx.ident;
            let doc = format!(
                "The input of the activity [`{target}`]: what a workflow passes and what \
                 crosses the engine. The tenant travels as a `TenantClaim` \
                 (`TenantClaim::of(&ctx)`, or the claim the workflow was started with); the \
                 worker verifies it with the registry and the task's route, and the activity \
                 receives the `TenantCtx` the registry gave. A payload whose `{ctx}` is missing, \
                 invalid or not vouched for never runs."
            );
            quote! {
                #[doc = #doc]
                #[derive(#private::serde::Serialize, #private::serde::Deserialize)]
                #[serde(crate = "::tenant::__private::serde", deny_unknown_fields)]
                #vis struct #input {
                    /// The tenant the activity runs for, as a claim the worker verifies.
                    pub #ctx: ::tenant::TenantClaim,
                    #(#fields)*
                }

                impl #private::temporal::TenantInput for #input {
                    fn claim(&self) -> &::tenant::TenantClaim {
                        &self.#ctx
                    }
                }
            }
        }
        Context::System(reason) => {
            let doc = format!(
                "The input of the system activity [`{target}`]. It carries no tenant: the \
                 worker builds the `SystemCtx` (reason: {:?}), audited at every use.",
                reason.value()
            );
            quote! {
                #[doc = #doc]
                #[derive(#private::serde::Serialize, #private::serde::Deserialize)]
                #[serde(crate = "::tenant::__private::serde", deny_unknown_fields)]
                #vis struct #input {
                    #(#fields)*
                }
            }
        }
    }
}

/// `#[tenant::activities]`: the SDK's `#[activities]` over the same block, each `#[activity]`
/// method taking `ActivityInput<<Method>Input>` in place of its context and parameters, which it
/// opens (decode, route check, or a fresh `SystemCtx`) before the body runs.
pub(crate) fn activities(args: TokenStream, input: TokenStream) -> TokenStream {
    let block: ActivitiesBlock = match parse_or_echo(input) {
        Ok(block) => block,
        Err(echo) => return echo,
    };
    let mut cx = Ctxt::default();
    if !args.is_empty() {
        cx.error_with_help(
            &args,
            "#[tenant::activities] takes no arguments",
            "put `name = \"..\"` or `system = \"..\"` on the `#[activity]` of a method",
        );
    }
    let mut activities = 0;
    let mut companions = Vec::new();
    let mut items = Vec::new();
    // What the block becomes if anything is wrong: the methods as written, without markers.
    let mut plain_items = Vec::new();
    for item in &block.items {
        match item {
            Item::Verbatim(tokens) => {
                items.push(tokens.clone());
                plain_items.push(tokens.clone());
            }
            Item::Activity(activity) => {
                let (marker, function) = (&activity.marker, &activity.function);
                activities += 1;
                plain_items.push(function_tokens(function));
                let args = match &marker.meta {
                    syn::Meta::Path(_) => TokenStream::new(),
                    syn::Meta::List(list) => list.tokens.clone(),
                    syn::Meta::NameValue(meta) => {
                        cx.error_with_help(
                            meta,
                            "write `#[activity]` or `#[activity(system = \"..\")]`",
                            "the arguments are: system, name",
                        );
                        TokenStream::new()
                    }
                };
                let args = parse_arguments(&mut cx, args);
                let name = args.name.clone();
                if let Some(context) = valid::check(&mut cx, function, args) {
                    let (companion, method) = expand_method(&block, function, &context, name);
                    companions.push(companion);
                    items.push(method);
                }
            }
        }
    }
    if activities == 0 {
        cx.error_with_help(
            &block.self_ty,
            "this #[tenant::activities] block has no `#[activity]` method",
            "mark each activity method with `#[activity]`, or use the SDK's `#[activities]` for \
             a block without tenant activities",
        );
    }
    let ActivitiesBlock {
        attrs,
        impl_token,
        generics,
        self_ty,
        ..
    } = &block;
    let where_clause = &generics.where_clause;
    let braced = |items: &[TokenStream]| {
        let mut group = proc_macro2::Group::new(proc_macro2::Delimiter::Brace, quote!(#(#items)*));
        group.set_span(block.brace.span.join());
        proc_macro2::TokenTree::Group(group)
    };
    match cx.check() {
        // The SDK sees the block only when every activity in it is sound; otherwise the methods
        // stay plain methods, so the user reads our errors and not a cascade of the SDK's.
        Ok(()) => {
            let body = braced(&items);
            quote! {
                #(#companions)*
                #(#attrs)*
                #[::tenant::__private::temporal::activities]
                #impl_token #generics #self_ty #where_clause #body
            }
        }
        Err(error) => {
            let body = braced(&plain_items);
            let block = quote!(#(#attrs)* #impl_token #generics #self_ty #where_clause #body);
            with_error(&block, error)
        }
    }
}

/// The method as written, without its `#[activity]` marker.
fn function_tokens(item: &ActivityFn) -> TokenStream {
    let ActivityFn {
        attrs,
        vis,
        asyncness,
        fn_token,
        ident,
        generics,
        receiver,
        params,
        output,
        body,
    } = item;
    let where_clause = &generics.where_clause;
    let receiver = receiver.as_ref().map(|r| {
        let tokens = &r.tokens;
        quote!(#tokens,)
    });
    let params = params.iter().map(|p| {
        let (mutability, ident, ty) = (&p.mutability, &p.ident, &p.ty);
        quote!(#mutability #ident: #ty)
    });
    quote!(#(#attrs)* #vis #asyncness #fn_token #ident #generics (#receiver #(#params),*) #output #where_clause #body)
}

fn expand_method(
    block: &ActivitiesBlock,
    item: &ActivityFn,
    context: &Context,
    name: Option<syn::Expr>,
) -> (TokenStream, TokenStream) {
    let ActivityFn {
        attrs,
        vis,
        asyncness,
        fn_token,
        ident,
        receiver,
        params,
        output,
        body,
        ..
    } = item;
    let self_ty = &block.self_ty;
    let target = format!("{}::{ident}", quote!(#self_ty));
    let (actx, ctx, rest) = (&params[0], &params[1], &params[2..]);
    let companion = input_struct(item, context, ctx, rest, &target);
    let input = input_ident(ident);
    let private = quote!(::tenant::__private);
    let binding = |p: &Param| {
        let (mutability, ident) = (&p.mutability, &p.ident);
        quote!(#mutability #ident)
    };
    let rest_bindings = rest.iter().map(binding);
    // Mixed-site: the body cannot name the raw input by accident.
    let raw = syn::Ident::new("__tenant_input", Span::mixed_site());
    let (actx_binding, actx_ident, actx_ty) = (binding(actx), &actx.ident, &actx.ty);
    let open = match context {
        Context::Tenant => {
            let (ctx_binding, ctx_ty) = (binding(ctx), &ctx.ty);
            let verified = syn::Ident::new("__tenant_ctx", Span::mixed_site());
            quote! {
                let (#input { #(#rest_bindings,)* .. }, #verified) =
                    match #private::temporal::open_tenant_input(
                        #raw,
                        &#actx_ident,
                        #private::temporal::TenantActivities::input_verifier(&*self),
                    )
                    .await
                    {
                        ::core::result::Result::Ok(opened) => opened,
                        ::core::result::Result::Err(error) => {
                            return ::core::result::Result::Err(error);
                        }
                    };
                // The user's own spelling of the type: their import stays in use, and a
                // lookalike of `TenantCtx` does not compile here.
                let #ctx_binding: #ctx_ty = #verified;
            }
        }
        Context::System(reason) => {
            let (sys_binding, sys_ty) = (binding(ctx), &ctx.ty);
            let sys = syn::Ident::new("__tenant_sys", Span::mixed_site());
            quote! {
                let (#input { #(#rest_bindings),* }, #sys) =
                    match #private::temporal::open_system_input(#raw, &#actx_ident, #reason) {
                        ::core::result::Result::Ok(opened) => opened,
                        ::core::result::Result::Err(error) => {
                            return ::core::result::Result::Err(error);
                        }
                    };
                // The user's own type: their `SystemCtx` import stays in use.
                let #sys_binding: #sys_ty = #sys;
            }
        }
    };
    let marker = match name {
        Some(name) => quote!(#[activity(name = #name)]),
        None => quote!(#[activity]),
    };
    let receiver = receiver.as_ref().map(|r| {
        let tokens = &r.tokens;
        quote!(#tokens,)
    });
    let method = quote! {
        #(#attrs)*
        #marker
        #vis #asyncness #fn_token #ident(
            #receiver
            #actx_binding: #actx_ty,
            #raw: ::tenant::temporal::ActivityInput<#input>,
        ) #output {
            #open
            #body
        }
    };
    (companion, method)
}
