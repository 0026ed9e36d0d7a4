//! `#[activity]`: parse (`ast`) → validate (`valid`) → expand (`expand`).

pub(crate) mod ast;
pub(crate) mod expand;
pub(crate) mod valid;
