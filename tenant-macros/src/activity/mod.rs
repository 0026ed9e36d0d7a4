//! `#[tenant::activities]` and the `#[activity]` markers of its methods: parse (`block`, `ast`, `args`)
//! → validate (`valid`) → expand (`expand`). Nothing is generated until every activity of the
//! block is checked.

pub(crate) mod args;
pub(crate) mod ast;
pub(crate) mod block;
pub(crate) mod expand;
pub(crate) mod valid;

use proc_macro2::TokenStream;

use crate::ctxt::Ctxt;
use crate::fallback::with_error;

/// `#[tenant::activities]`: the SDK's `#[activities]` over the same block, each `#[activity]`
/// method taking `ActivityInput<<Method>Input>` in place of its context and parameters, which it
/// opens (decode, route check, or a fresh `SystemCtx`) before the body runs.
pub(crate) fn activities(args: TokenStream, block: &block::ActivitiesBlock) -> TokenStream {
    let mut cx = Ctxt::new();
    let activities = args::activities(&mut cx, &args, block);
    let valid = valid::check(&mut cx, block, &activities);
    match (cx.check(), valid) {
        (Ok(()), Some(valid)) => expand::expand(block, &valid),
        (Err(error), _) => with_error(&expand::plain_block(block), error),
        // `valid` records an error whenever it returns `None`.
        (Ok(()), None) => expand::plain_block(block),
    }
}
