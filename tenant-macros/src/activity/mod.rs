//! `#[activity]` and `#[tenant::activities]`: parse (`ast`, `block`) → validate (`valid`) →
//! expand (`expand`).

pub(crate) mod ast;
pub(crate) mod block;
pub(crate) mod expand;
pub(crate) mod valid;
