//! Checks an `#[activity]`: async, no generics, and a tenant (or, marked, system) context as its
//! first parameter; in `#[tenant::activities]`, right after the SDK's `ActivityContext`, and a
//! free function takes no receiver. Every problem is recorded.

use quote::ToTokens;
use syn::Type;

use super::ast::{ActivityFn, Arguments, Param};
use crate::ctxt::Ctxt;

/// Which context the activity runs under.
pub(crate) enum Context {
    /// `ctx: TenantCtx`, carried in the input.
    Tenant,
    /// `SystemCtx`, made by the worker with this reason; the input carries no context.
    System(syn::LitStr),
}

pub(crate) fn check(cx: &mut Ctxt, item: &ActivityFn, args: Arguments) -> Option<Context> {
    if item.asyncness.is_none() {
        cx.error_with_help(
            item.fn_token,
            "an #[activity] must be an `async fn`",
            "write `async fn`",
        );
    }
    if !item.generics.params.is_empty() || item.generics.where_clause.is_some() {
        cx.error_with_help(
            &item.generics,
            "an #[activity] cannot be generic: its input has one concrete type",
            "remove the generic parameters",
        );
    }
    if let Some(reason) = &args.system
        && reason.value().trim().is_empty()
    {
        cx.error_with_help(
            reason,
            "the reason of a system activity cannot be blank: it goes to the audit log",
            "say why this activity reads across tenants",
        );
    }

    let expected = if args.system.is_some() {
        "SystemCtx"
    } else {
        "TenantCtx"
    };
    let first = match item.params.first() {
        Some(param) if last_ident_is(&param.ty, "ActivityContext") => item.params.get(1),
        other => {
            let help = "write `actx: ActivityContext` first (after `self: Arc<Self>`), then \
                            the tenant context: the SDK hands every activity its context first";
            let message = "an activity method takes the SDK's `ActivityContext` first";
            match other {
                Some(Param { ty, .. }) => cx.error_with_help(ty, message, help),
                None => cx.error_with_help(&item.ident, message, help),
            }
            return None;
        }
    };
    let (slot, slot_help) = (
        "the parameter after `ActivityContext`",
        "right after the `ActivityContext`",
    );
    let first_ok = match first {
        Some(param) => match &param.ty {
            Type::Reference(reference) if last_ident_is(&reference.elem, expected) => {
                cx.error_with_help(
                    &param.ty,
                    format!("take the `{expected}` by value, not by reference"),
                    format!(
                        "write `{}: {expected}`: the worker builds it for each run",
                        param.ident
                    ),
                );
                false
            }
            ty if last_ident_is(ty, expected) => true,
            ty => {
                let (message, help) = if args.system.is_some() {
                    (
                        format!(
                            "{slot} of a system activity must be a `SystemCtx`, not `{}`",
                            ty.to_token_stream()
                        ),
                        format!("write `sys: tenant::SystemCtx` {slot_help}"),
                    )
                } else {
                    (
                        format!(
                            "{slot} of an #[activity] must be the tenant context, not `{}`",
                            ty.to_token_stream()
                        ),
                        format!(
                            "add `ctx: tenant::TenantCtx` {slot_help}; an activity that really \
                             works across tenants is `#[activity(system = \"reason\")]` and takes \
                             a `SystemCtx`"
                        ),
                    )
                };
                cx.error_with_help(ty, message, help);
                false
            }
        },
        None => {
            cx.error_with_help(
                &item.ident,
                format!("the activity `{}` takes no tenant context", item.ident),
                if args.system.is_some() {
                    format!("add `sys: tenant::SystemCtx` {slot_help}")
                } else {
                    format!(
                        "add `ctx: tenant::TenantCtx` {slot_help}; an activity that really works \
                         across tenants is `#[activity(system = \"reason\")]` and takes a \
                         `SystemCtx`"
                    )
                },
            );
            false
        }
    };
    if args.system.is_none() && item.receiver.is_none() {
        cx.error_with_help(
            &item.ident,
            "a tenant activity takes `self: Arc<Self>`: the worker verifies its input with the \
             `InputVerifier` of the block's type",
            "write `self: Arc<Self>` first, and implement `tenant::temporal::TenantActivities` \
             for the block's type",
        );
        return None;
    }
    first_ok.then_some(match args.system {
        Some(reason) => Context::System(reason),
        None => Context::Tenant,
    })
}

/// Whether `ty` is a path ending in `name` (`TenantCtx`, `tenant::TenantCtx`).
fn last_ident_is(ty: &Type, name: &str) -> bool {
    let Type::Path(path) = ty else { return false };
    path.qself.is_none()
        && path
            .path
            .segments
            .last()
            .is_some_and(|s| s.ident == name && s.arguments.is_none())
}
