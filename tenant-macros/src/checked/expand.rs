//! The expansion: a `static` holding the call site's statement, one const check per named column
//! and entity (only `<E as Entity>::META` knows the tenant column), and the query. Every path is
//! absolute, through the facade's hidden module.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};

use super::Kind;
use super::ast::Invocation;
use super::valid::{Valid, fragment, line_column};

/// The type of a query with errors. As one that reads it runs on every handle a query runs on,
/// so whatever the code around it passes adds no error of its own.
fn query_type(kind: Kind, output: Option<&syn::Type>, args: TokenStream) -> TokenStream {
    let private = quote!(::tenant::__private::checked);
    let output = output.map_or_else(|| quote!(()), |ty| quote!(#ty));
    match kind {
        Kind::Query => quote!(#private::CheckedQuery<'_, #args, #private::Reads>),
        Kind::As => quote!(#private::CheckedQueryAs<'_, #output, #args, #private::Reads>),
        Kind::Scalar => quote!(#private::CheckedQueryScalar<'_, #output, #args, #private::Reads>),
    }
}

pub(crate) fn expand(invocation: &Invocation, valid: &Valid) -> TokenStream {
    let private = quote!(::tenant::__private::checked);
    let span = invocation.sql.span();
    let pieces = valid.checked.pieces.iter().map(|piece| match piece {
        tenant_sqlcheck::Piece::Sql(text) => quote!(#private::Piece::Sql(#text)),
        tenant_sqlcheck::Piece::Table(i) => quote!(#private::Piece::Table(#i)),
        tenant_sqlcheck::Piece::TenantColumn(i) => quote!(#private::Piece::TenantColumn(#i)),
    });
    let metas: Vec<TokenStream> = valid
        .entities
        .iter()
        .map(|path| quote_spanned!(span=> <#path as ::tenant::sqlx::Entity>::META))
        .collect();
    // Spanned at the literal, every token of the call: rustc points a failed const evaluation
    // at the call expression, which would otherwise cover the whole invocation.
    let private_at = quote_spanned!(span=> ::tenant::__private::checked);
    let mut column_checks = Vec::new();
    for column in &valid.checked.columns {
        for (entity, meta) in valid.checked.entities.iter().zip(&metas) {
            let name = &column.name;
            let message = format!(
                "`{}` (at {}) is the tenant column of `{}`: a checked query restricts and fills it from the context, and never lets the SQL name it\nhelp: remove `{}`; the context's tenant is bound for every `{{{}}}` already",
                fragment(&valid.sql, &column.span),
                line_column(&valid.sql, column.span.start),
                entity.path,
                name,
                entity.path,
            );
            column_checks.push(quote_spanned! {span=>
                const _: () = #private_at::refuse_tenant_column(#meta, #name, #message);
            });
        }
    }
    let ctx = &invocation.ctx;
    let args = &invocation.args;
    let constructor = match invocation.kind {
        Kind::Query => quote!(CheckedQuery),
        Kind::As => quote!(CheckedQueryAs),
        Kind::Scalar => quote!(CheckedQueryScalar),
    };
    let output = invocation.output.as_ref().map(|ty| quote!(#ty,));
    // Whether the statement writes decides the handles it runs on: a routed handle
    // (`PoolSet::route`) runs outside the placement fence and takes only `Reads`.
    let access = if valid.checked.writes {
        quote!(#private::Writes)
    } else {
        quote!(#private::Reads)
    };
    let sql_static = quote_spanned!(Span::mixed_site()=> __TENANT_CHECKED_SQL);
    quote! {{
        static #sql_static: #private::CheckedSql = #private::CheckedSql::new(
            &[#(#pieces),*],
            &[#(#metas),*],
        );
        #(#column_checks)*
        #private::#constructor::<#output _, #access>::__new(&#sql_static, #ctx, (#(#args,)*))
    }}
}

/// The expansion of an invocation with errors: the errors, and an expression of the query's
/// type that still type-checks the context and the arguments, so that the code around it
/// (`.fetch_all(&pool).await?`) adds no error of its own.
pub(crate) fn refused(
    kind: Kind,
    invocation: Option<&Invocation>,
    error: syn::Error,
) -> TokenStream {
    let error = error.to_compile_error();
    let private = quote!(::tenant::__private::checked);
    let Some(invocation) = invocation else {
        let ty = query_type(kind, None, quote!(()));
        return quote! {{
            #error
            #private::refused::<#ty>()
        }};
    };
    let ctx = &invocation.ctx;
    let args = &invocation.args;
    let ty = query_type(kind, invocation.output.as_ref(), quote!(()));
    quote! {{
        #error
        let _: &::tenant::TenantCtx = #ctx;
        let _ = (#(&(#args),)*);
        #private::refused::<#ty>()
    }}
}
