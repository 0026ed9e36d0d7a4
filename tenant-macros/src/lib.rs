//! Procedural macros of the [`tenant`](https://docs.rs/tenant) crate. Use them through the
//! facade: `#[tenant::tenant_scoped]`. Each macro parses the input into a typed AST that borrows
//! the user's tokens (`ast`, `attr`), validates it and collects every error (`valid`, `ctxt`),
//! then expands it (`expand`).

#![warn(missing_docs, unreachable_pub)]

mod activity;
mod ast;
mod attr;
mod ctxt;
mod expand;
mod valid;

use proc_macro::TokenStream;

/// Makes a struct a row of a tenant-owned table and generates its repository.
///
/// See the `tenant` crate's documentation for the generated items and the accepted attributes.
#[proc_macro_attribute]
pub fn tenant_scoped(args: TokenStream, input: TokenStream) -> TokenStream {
    let item = syn::parse_macro_input!(input as syn::DeriveInput);
    expand::tenant_scoped(args.into(), &item).into()
}

/// Makes an async fn a tenant-carrying activity: its first parameter must be `ctx: TenantCtx`
/// (or, with `#[activity(system = "reason")]`, a `SystemCtx`), and `<FnName>Input` is generated:
/// the serde payload that crosses the workflow engine, with `run`.
#[proc_macro_attribute]
pub fn activity(args: TokenStream, input: TokenStream) -> TokenStream {
    activity::expand::activity(args.into(), input.into()).into()
}

/// Makes the `#[activity]` methods of an impl block tenant-carrying activities of the Temporal Rust
/// SDK: wraps the SDK's `#[activities]`, generates `<Method>Input { ctx: TenantCtx, .. }` for each
/// and opens it (typed decode, route check) before the body runs.
#[proc_macro_attribute]
pub fn activities(args: TokenStream, input: TokenStream) -> TokenStream {
    activity::expand::activities(args.into(), input.into()).into()
}
