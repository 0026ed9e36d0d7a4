//! `query!`, `query_as!`, `query_scalar!`: raw SQL whose tenant tables are named by their entity
//! and restricted to the context's tenant. Parse the invocation (`ast`), check the SQL with the
//! engine (`tenant-sqlcheck`) and collect every error (`valid`), expand to the runtime of
//! `tenant::sqlx` (`expand`). On any error the expansion still type-checks the context and the
//! arguments, and has the query's type, so only our errors are reported.

mod ast;
mod expand;
mod valid;

use proc_macro2::TokenStream;

/// Which macro: what its rows decode into.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `query!`: sqlx rows, or a count of changed rows.
    Query,
    /// `query_as!`: `FromRow` rows.
    As,
    /// `query_scalar!`: the first column.
    Scalar,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Query => "query!",
            Kind::As => "query_as!",
            Kind::Scalar => "query_scalar!",
        }
    }
}

pub(crate) fn checked(kind: Kind, input: TokenStream) -> TokenStream {
    let invocation = match ast::Invocation::parse(kind, input) {
        Ok(invocation) => invocation,
        Err(error) => return expand::refused(kind, None, error),
    };
    match valid::check(&invocation) {
        Ok(checked) => expand::expand(&invocation, &checked),
        Err(error) => expand::refused(kind, Some(&invocation), error),
    }
}
