//! Procedural macros of the [`tenant`](https://docs.rs/tenant) crate. Use them through the
//! facade: `#[tenant::tenant_scoped]`, `#[tenant::activities]`. One folder per macro; each parses
//! its input into a typed AST that borrows the user's tokens (`ast`, `attr`), validates it and
//! collects every error (`valid`, with the shared `ctxt`), then expands it (`expand`). On any
//! error the user's item is still emitted (`fallback`), so only our errors are reported.

mod activity;
#[cfg(feature = "checked")]
mod checked;
mod ctxt;
mod fallback;
mod meta;
mod tenant_scoped;
mod ty;

use proc_macro::TokenStream;

/// Makes a struct a row of a tenant-owned table and generates its repository.
///
/// See the `tenant` crate's documentation for the generated items and the accepted attributes.
#[proc_macro_attribute]
pub fn tenant_scoped(args: TokenStream, input: TokenStream) -> TokenStream {
    match fallback::parse_or_echo::<tenant_scoped::ast::Item>(input.into()) {
        Ok(item) => tenant_scoped::tenant_scoped(args.into(), &item.0).into(),
        Err(echo) => echo.into(),
    }
}

/// A checked query: raw SQL whose tenant tables are named by their entity (`{Invoice}`),
/// restricted to the context's tenant wherever they appear. See `tenant::sqlx::query!`.
#[cfg(feature = "checked")]
#[proc_macro]
pub fn query(input: TokenStream) -> TokenStream {
    checked::checked(checked::Kind::Query, input.into()).into()
}

/// A checked query whose rows decode with `FromRow`. See `tenant::sqlx::query_as!`.
#[cfg(feature = "checked")]
#[proc_macro]
pub fn query_as(input: TokenStream) -> TokenStream {
    checked::checked(checked::Kind::As, input.into()).into()
}

/// A checked query whose rows are one value each. See `tenant::sqlx::query_scalar!`.
#[cfg(feature = "checked")]
#[proc_macro]
pub fn query_scalar(input: TokenStream) -> TokenStream {
    checked::checked(checked::Kind::Scalar, input.into()).into()
}

/// Makes the `#[activity]` methods of an impl block tenant-carrying activities of the Temporal Rust
/// SDK: wraps the SDK's `#[activities]`, generates `<Method>Input { ctx: TenantCtx, .. }` for each
/// and opens it (typed decode, route check) before the body runs.
#[proc_macro_attribute]
pub fn activities(args: TokenStream, input: TokenStream) -> TokenStream {
    match fallback::parse_or_echo::<activity::block::ActivitiesBlock>(input.into()) {
        Ok(block) => activity::activities(args.into(), &block).into(),
        Err(echo) => echo.into(),
    }
}
