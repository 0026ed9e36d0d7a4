//! Generates, for each `#[activity]` method of a checked block, `<Method>Input` (the payload that
//! crosses the workflow engine, carrying the tenant as a claim) and the SDK-facing method that
//! opens it before the body runs.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, format_ident, quote};

use super::ast::{ActivityFn, Param};
use super::block::{ActivitiesBlock, Item};
use super::valid::{Context, Valid};

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
                 crosses the engine. The tenant travels as a `SignedClaim` (minted from a \
                 verified context by a holder of a claim-signing key, usually the claim the \
                 workflow was started with); the worker checks its signature, expiry and \
                 audience, the task's route, and the registry, and the activity receives the \
                 `TenantCtx` the registry gave. A payload whose `{ctx}` is missing, unsigned, \
                 forged, expired or not vouched for never runs."
            );
            quote! {
                #[doc = #doc]
                #[derive(#private::serde::Serialize, #private::serde::Deserialize)]
                #[serde(crate = "::tenant::__private::serde", deny_unknown_fields)]
                #vis struct #input {
                    /// The tenant the activity runs for, as a signed claim the worker verifies.
                    pub #ctx: ::tenant::SignedClaim,
                    #(#fields)*
                }

                impl #private::temporal::TenantInput for #input {
                    fn claim(&self) -> &::tenant::SignedClaim {
                        &self.#ctx
                    }
                }
            }
        }
        Context::System(reason) => {
            let sys = &ctx.ident;
            let doc = format!(
                "The input of the system activity [`{target}`]. It carries no tenant but a \
                 `SystemToken` for its reason ({:?}), signed by a holder of a claim-signing \
                 key; the worker checks it and builds the `SystemCtx`, audited at every use.",
                reason.value()
            );
            quote! {
                #[doc = #doc]
                #[derive(#private::serde::Serialize, #private::serde::Deserialize)]
                #[serde(crate = "::tenant::__private::serde", deny_unknown_fields)]
                #vis struct #input {
                    /// The signed permission to run this system activity, which the worker checks.
                    pub #sys: ::tenant::SystemToken,
                    #(#fields)*
                }

                impl #private::temporal::SystemInput for #input {
                    fn token(&self) -> &::tenant::SystemToken {
                        &self.#sys
                    }
                }
            }
        }
    }
}

/// The SDK's `#[activities]` over the block, each activity method taking
/// `ActivityInput<<Method>Input>` in place of its context and parameters, preceded by the inputs.
/// `valid` holds the block's activities in order.
pub(crate) fn expand(block: &ActivitiesBlock, valid: &[Valid<'_>]) -> TokenStream {
    let mut valid = valid.iter();
    let mut companions = Vec::new();
    let mut items = Vec::new();
    for item in &block.items {
        match item {
            Item::Verbatim(tokens) => items.push(tokens.clone()),
            Item::Activity(_) => {
                let activity = valid.next().expect("one `Valid` per activity, in order");
                let (companion, method) = expand_method(block, activity);
                companions.push(companion);
                items.push(method);
            }
        }
    }
    let body = braced(block, &items);
    let ActivitiesBlock {
        attrs,
        impl_token,
        generics,
        self_ty,
        ..
    } = block;
    let where_clause = &generics.where_clause;
    quote! {
        #(#companions)*
        #(#attrs)*
        #[::tenant::__private::temporal::activities]
        #impl_token #generics #self_ty #where_clause #body
    }
}

/// The block with its methods as written, without markers and without the SDK's macro: what an
/// erroneous block becomes, so the user reads our errors and not a cascade of the SDK's.
pub(crate) fn plain_block(block: &ActivitiesBlock) -> TokenStream {
    let items: Vec<TokenStream> = block
        .items
        .iter()
        .map(|item| match item {
            Item::Verbatim(tokens) => tokens.clone(),
            Item::Activity(activity) => activity.function.to_token_stream(),
        })
        .collect();
    let body = braced(block, &items);
    let ActivitiesBlock {
        attrs,
        impl_token,
        generics,
        self_ty,
        ..
    } = block;
    let where_clause = &generics.where_clause;
    quote!(#(#attrs)* #impl_token #generics #self_ty #where_clause #body)
}

/// `items` in braces spanning the block's own, so errors about the block point at the user's.
fn braced(block: &ActivitiesBlock, items: &[TokenStream]) -> proc_macro2::TokenTree {
    let mut group = proc_macro2::Group::new(proc_macro2::Delimiter::Brace, quote!(#(#items)*));
    group.set_span(block.brace.span.join());
    proc_macro2::TokenTree::Group(group)
}

/// The input struct of one activity and the SDK-facing method that opens it before the body.
fn expand_method(block: &ActivitiesBlock, valid: &Valid<'_>) -> (TokenStream, TokenStream) {
    let (item, context) = (valid.activity.function, &valid.context);
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
    // Mixed-site: the body cannot name the raw input by accident.
    let raw = syn::Ident::new("__tenant_input", Span::mixed_site());
    let (actx_binding, actx_ty) = (binding(actx), &actx.ty);
    let open = open_input(context, &input, &raw, actx, ctx, rest);
    let marker = match &valid.activity.args.name {
        Some(name) => quote!(#[activity(name = #name)]),
        None => quote!(#[activity]),
    };
    let receiver = receiver.as_ref().map(|r| quote!(#r,));
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

/// `mut name`, as the user declared the parameter.
fn binding(param: &Param) -> TokenStream {
    let (mutability, ident) = (&param.mutability, &param.ident);
    quote!(#mutability #ident)
}

/// The statements that open the raw input `raw` (a tenant input verified against the registry
/// and the task's route, or a system input with a fresh `SystemCtx`) and bind the context `ctx`
/// and the parameters `rest` as the user named them. On failure the method returns the error.
fn open_input(
    context: &Context,
    input: &syn::Ident,
    raw: &syn::Ident,
    actx: &Param,
    ctx: &Param,
    rest: &[Param],
) -> TokenStream {
    let private = quote!(::tenant::__private);
    let rest_bindings = rest.iter().map(binding);
    let actx_ident = &actx.ident;
    match context {
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
                let (#input { #(#rest_bindings,)* .. }, #sys) =
                    match #private::temporal::open_system_input(
                        #raw,
                        &#actx_ident,
                        #private::temporal::TenantActivities::input_verifier(&*self),
                        #reason,
                    ) {
                        ::core::result::Result::Ok(opened) => opened,
                        ::core::result::Result::Err(error) => {
                            return ::core::result::Result::Err(error);
                        }
                    };
                // The user's own type: their `SystemCtx` import stays in use.
                let #sys_binding: #sys_ty = #sys;
            }
        }
    }
}
