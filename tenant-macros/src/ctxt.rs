//! Collects every error of one macro invocation, so the user sees them all in one compile.

use std::fmt::Display;
use std::thread;

use quote::ToTokens;

/// Errors found so far. It must be consumed with [`Ctxt::check`]: dropping it unchecked panics
/// (as serde_derive's does), so an error can never be recorded and then lost, which would expand
/// an entity whose problem nobody reported.
pub(crate) struct Ctxt {
    /// `None` once checked.
    errors: Option<Vec<syn::Error>>,
}

impl Ctxt {
    pub(crate) fn new() -> Self {
        Ctxt {
            errors: Some(Vec::new()),
        }
    }

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
        self.errors
            .as_mut()
            .expect("no error is recorded after the check")
            .push(error);
    }

    /// All errors combined into one, or `Ok` if there were none.
    pub(crate) fn check(mut self) -> Result<(), syn::Error> {
        let mut errors = self.errors.take().unwrap_or_default().into_iter();
        let Some(mut combined) = errors.next() else {
            return Ok(());
        };
        for error in errors {
            combined.combine(error);
        }
        Err(combined)
    }
}

impl Drop for Ctxt {
    fn drop(&mut self) {
        // Not while unwinding: a second panic would abort and hide the first.
        if !thread::panicking() && self.errors.is_some() {
            panic!("forgot to check for errors");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Ctxt;

    #[test]
    fn checked_errors_are_combined_in_order() {
        let mut cx = Ctxt::new();
        cx.push(syn::Error::new(proc_macro2::Span::call_site(), "first"));
        cx.push(syn::Error::new(proc_macro2::Span::call_site(), "second"));
        let messages: Vec<String> = cx
            .check()
            .unwrap_err()
            .into_iter()
            .map(|e| e.to_string())
            .collect();
        assert_eq!(messages, ["first", "second"]);
        assert!(Ctxt::new().check().is_ok());
    }

    #[test]
    #[should_panic(expected = "forgot to check for errors")]
    fn dropping_an_unchecked_context_panics() {
        let _cx = Ctxt::new();
    }
}
