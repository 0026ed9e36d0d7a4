//! `#[tenant_scoped]`: parse (`attr`, `ast`) → validate (`valid`) → expand (`expand`).

pub(crate) mod ast;
pub(crate) mod attr;
pub(crate) mod expand;
pub(crate) mod valid;
