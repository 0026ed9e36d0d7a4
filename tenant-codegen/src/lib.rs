//! The expansion of `#[tenant_scoped]` as an ordinary library, so tools can run it outside a
//! compiler: the build-time benchmark writes the expansion out as plain Rust and compiles both.
//!
//! The modules are `tenant-macros`' own source files (the way `serde_derive_internals` shares
//! `serde_derive`'s), so this is the macro's expansion, not a copy that could drift from it.
//!
//! ```
//! let args = quote::quote!(table = "notes");
//! let item = quote::quote! {
//!     pub struct Note { #[key] pub id: i64, #[tenant] pub tenant_id: TenantId, pub body: String }
//! };
//! let expanded = tenant_codegen::tenant_scoped(args, item).unwrap().to_string();
//! assert!(expanded.contains("struct NewNote"));
//! assert!(expanded.contains("type NoteRepo"));
//! ```

#[path = "../../tenant-macros/src/ctxt.rs"]
mod ctxt;
// `parse_or_echo` serves the proc-macro entries; this library returns a parse error instead.
#[allow(dead_code)]
#[path = "../../tenant-macros/src/fallback.rs"]
mod fallback;
#[path = "../../tenant-macros/src/meta.rs"]
mod meta;
#[path = "../../tenant-macros/src/tenant_scoped/mod.rs"]
mod tenant_scoped;
#[path = "../../tenant-macros/src/ty.rs"]
mod ty;

use proc_macro2::TokenStream;

/// Expands `#[tenant_scoped(args)] item` exactly as the attribute macro does. Misuse expands to
/// the item plus `compile_error!`, as in the macro; only an item that is not a struct, enum or
/// union at all is an `Err` (with the message the macro reports beside the item it echoes).
pub fn tenant_scoped(args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let input: tenant_scoped::ast::Item = syn::parse2(item)?;
    Ok(tenant_scoped::tenant_scoped(args, &input.0))
}
