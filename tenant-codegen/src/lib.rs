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

#![warn(missing_docs)]

#[path = "../../tenant-macros/src/ast.rs"]
mod ast;
#[path = "../../tenant-macros/src/attr.rs"]
mod attr;
#[path = "../../tenant-macros/src/ctxt.rs"]
mod ctxt;
#[path = "../../tenant-macros/src/expand.rs"]
mod expand;
#[path = "../../tenant-macros/src/valid.rs"]
mod valid;

use proc_macro2::TokenStream;

/// Expands `#[tenant_scoped(args)] item` exactly as the attribute macro does. Misuse expands to
/// the item plus `compile_error!`, as in the macro; only an item that is not a struct, enum or
/// union at all is an `Err`.
pub fn tenant_scoped(args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let input: syn::DeriveInput = syn::parse2(item)?;
    Ok(expand::tenant_scoped(args, &input))
}
