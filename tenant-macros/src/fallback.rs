//! What a macro emits when its input is wrong: the user's item, followed by the errors. Without
//! the item, every use of it would add a "cannot find" error after ours (tokio-macros and
//! thiserror do the same).

use proc_macro2::TokenStream;
use quote::{ToTokens, quote};

/// The parsed input, or the input as written followed by the parse error.
pub(crate) fn parse_or_echo<T: syn::parse::Parse>(input: TokenStream) -> Result<T, TokenStream> {
    syn::parse2(input.clone()).map_err(|error| with_error(&input, error))
}

/// `item` (as written, or without our markers) followed by `error` as `compile_error!`s.
pub(crate) fn with_error(item: &impl ToTokens, error: syn::Error) -> TokenStream {
    let error = error.to_compile_error();
    quote!(#item #error)
}
