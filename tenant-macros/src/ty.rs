//! What both macros ask of a field's or parameter's type, read from its path as written: a macro
//! sees tokens, not resolved types, so `tenant::TenantId` and a local `TenantId` both match, and a
//! lookalike is left for the compiler to reject where the generated code uses it.

use syn::{GenericArgument, PathArguments, Type};

/// Whether `ty` is a path ending in `name`, without generic arguments (`TenantCtx`,
/// `tenant::TenantCtx`).
pub(crate) fn last_segment_is(ty: &Type, name: &str) -> bool {
    let Type::Path(path) = ty else { return false };
    path.qself.is_none()
        && path
            .path
            .segments
            .last()
            .is_some_and(|s| s.ident == name && s.arguments.is_none())
}

/// Whether `ty` names `TenantId`.
pub(crate) fn is_tenant_id(ty: &Type) -> bool {
    last_segment_is(ty, "TenantId")
}

/// Whether `ty` is `i16`, `i32` or `i64`: the types a database generates keys of.
pub(crate) fn is_integer(ty: &Type) -> bool {
    ["i16", "i32", "i64"]
        .into_iter()
        .any(|name| last_segment_is(ty, name))
}

/// `T` if `ty` is `Option<T>` (by its last path segment).
pub(crate) fn option_inner(ty: &Type) -> Option<&Type> {
    let Type::Path(path) = ty else { return None };
    let segment = path.path.segments.last()?;
    if segment.ident != "Option" {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &segment.arguments else {
        return None;
    };
    match args.args.first()? {
        GenericArgument::Type(inner) if args.args.len() == 1 => Some(inner),
        _ => None,
    }
}
