//! Collects every error of one macro invocation, so the user sees them all in one compile.

use std::fmt::Display;

use quote::ToTokens;

/// Errors found so far.
#[derive(Default)]
pub(crate) struct Ctxt {
    errors: Vec<syn::Error>,
}

impl Ctxt {
    /// Records an error on `tokens` with a `help:` line telling the user what to write instead.
    pub(crate) fn error_with_help(
        &mut self,
        tokens: impl ToTokens,
        message: impl Display,
        help: impl Display,
    ) {
        self.push(syn::Error::new_spanned(
            tokens,
            format!("{message}\nhelp: {help}"),
        ));
    }

    /// Records an error at a span, with a `help:` line.
    pub(crate) fn error_at(
        &mut self,
        span: proc_macro2::Span,
        message: impl Display,
        help: impl Display,
    ) {
        self.push(syn::Error::new(span, format!("{message}\nhelp: {help}")));
    }

    pub(crate) fn push(&mut self, error: syn::Error) {
        self.errors.push(error);
    }

    /// All errors combined into one, or `Ok` if there were none.
    pub(crate) fn check(self) -> Result<(), syn::Error> {
        let mut errors = self.errors.into_iter();
        let Some(mut combined) = errors.next() else {
            return Ok(());
        };
        for error in errors {
            combined.combine(error);
        }
        Err(combined)
    }
}
