//! Checks the `#[activity]` methods of a block before anything is generated: each is an
//! `async fn`, not generic, takes the SDK's `ActivityContext` and then its context (a
//! `TenantCtx`, or the `SystemCtx` of a marked system activity), and a tenant activity takes
//! `self`, whose type verifies its input. Every problem is recorded.

use quote::ToTokens;
use syn::Type;

use super::args::{Activity, Arguments};
use super::ast::{ActivityFn, Param};
use super::block::ActivitiesBlock;
use crate::ctxt::Ctxt;
use crate::ty::last_segment_is;

/// Which context the activity runs under.
pub(crate) enum Context {
    /// `ctx: TenantCtx`, carried in the input.
    Tenant,
    /// `SystemCtx`, made by the worker with this reason; the input carries no context.
    System(syn::LitStr),
}

/// An activity known to be sound, and the context it runs under.
pub(crate) struct Valid<'a> {
    pub(crate) activity: &'a Activity<'a>,
    pub(crate) context: Context,
}

/// Every activity of the block, in order, or `None` once any has an error.
pub(crate) fn check<'a>(
    cx: &mut Ctxt,
    block: &ActivitiesBlock,
    activities: &'a [Activity<'a>],
) -> Option<Vec<Valid<'a>>> {
    let valid: Vec<Option<Valid<'a>>> = activities
        .iter()
        .map(|activity| check_activity(cx, activity))
        .collect();
    check_not_empty(cx, block, activities);
    valid.into_iter().collect()
}

fn check_activity<'a>(cx: &mut Ctxt, activity: &'a Activity<'a>) -> Option<Valid<'a>> {
    let (function, args) = (activity.function, &activity.args);
    check_async(cx, function);
    check_not_generic(cx, function);
    check_system_reason(cx, args);
    // Without the SDK's context first, the parameters cannot be told apart.
    let context_param = check_activity_context(cx, function)?;
    let context_ok = check_context_param(cx, function, args, context_param);
    check_receiver(cx, function, args)?;
    context_ok.then(|| Valid {
        activity,
        context: match &args.system {
            Some(reason) => Context::System(reason.clone()),
            None => Context::Tenant,
        },
    })
}

/// The SDK runs activities as futures.
fn check_async(cx: &mut Ctxt, function: &ActivityFn) {
    if function.asyncness.is_none() {
        cx.error_with_help(
            function.fn_token,
            "an #[activity] must be an `async fn`",
            "write `async fn`",
        );
    }
}

/// Its input, generated from the parameters, has one concrete type.
fn check_not_generic(cx: &mut Ctxt, function: &ActivityFn) {
    if !function.generics.params.is_empty() || function.generics.where_clause.is_some() {
        cx.error_with_help(
            &function.generics,
            "an #[activity] cannot be generic: its input has one concrete type",
            "remove the generic parameters",
        );
    }
}

/// The reason of a system activity goes to the audit log at every use: it must say something.
fn check_system_reason(cx: &mut Ctxt, args: &Arguments) {
    if let Some(reason) = &args.system
        && reason.value().trim().is_empty()
    {
        cx.error_with_help(
            reason,
            "the reason of a system activity cannot be blank: it goes to the audit log",
            "say why this activity reads across tenants",
        );
    }
}

/// The SDK hands every activity its `ActivityContext` first. The parameter after it, if any.
/// `None` (recorded) if the first parameter is something else.
fn check_activity_context<'f>(
    cx: &mut Ctxt,
    function: &'f ActivityFn,
) -> Option<Option<&'f Param>> {
    match function.params.first() {
        Some(param) if last_segment_is(&param.ty, "ActivityContext") => {
            Some(function.params.get(1))
        }
        other => {
            let help = "write `actx: ActivityContext` first (after `self: Arc<Self>`), then \
                            the tenant context: the SDK hands every activity its context first";
            let message = "an activity method takes the SDK's `ActivityContext` first";
            match other {
                Some(Param { ty, .. }) => cx.error_with_help(ty, message, help),
                None => cx.error_with_help(&function.ident, message, help),
            }
            None
        }
    }
}

/// Where the context goes, for messages and help lines.
const SLOT: &str = "the parameter after `ActivityContext`";
const SLOT_HELP: &str = "right after the `ActivityContext`";

/// After the `ActivityContext` comes the context the activity runs under, by value: a
/// `TenantCtx`, or for a system activity a `SystemCtx`. Whether it is there and right.
fn check_context_param(
    cx: &mut Ctxt,
    function: &ActivityFn,
    args: &Arguments,
    param: Option<&Param>,
) -> bool {
    let Some(param) = param else {
        cx.error_with_help(
            &function.ident,
            format!("the activity `{}` takes no tenant context", function.ident),
            if args.system.is_some() {
                format!("add `sys: tenant::SystemCtx` {SLOT_HELP}")
            } else {
                add_tenant_ctx_help()
            },
        );
        return false;
    };
    let expected = if args.system.is_some() {
        "SystemCtx"
    } else {
        "TenantCtx"
    };
    match &param.ty {
        Type::Reference(reference) if last_segment_is(&reference.elem, expected) => {
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
        ty if last_segment_is(ty, expected) => true,
        ty if args.system.is_some() => {
            cx.error_with_help(
                ty,
                format!(
                    "{SLOT} of a system activity must be a `SystemCtx`, not `{}`",
                    ty.to_token_stream()
                ),
                format!("write `sys: tenant::SystemCtx` {SLOT_HELP}"),
            );
            false
        }
        ty => {
            cx.error_with_help(
                ty,
                format!(
                    "{SLOT} of an #[activity] must be the tenant context, not `{}`",
                    ty.to_token_stream()
                ),
                add_tenant_ctx_help(),
            );
            false
        }
    }
}

/// A tenant activity lacks its `TenantCtx`: add it, unless it really is a system activity.
fn add_tenant_ctx_help() -> String {
    format!(
        "add `ctx: tenant::TenantCtx` {SLOT_HELP}; an activity that really works across tenants \
         is `#[activity(system = \"reason\")]` and takes a `SystemCtx`"
    )
}

/// An activity's input (a tenant activity's signed claim, a system activity's system token) is
/// verified by the `InputVerifier` of the block's type, which the generated method reaches
/// through `self`. `None` (recorded) if it has no receiver.
fn check_receiver(cx: &mut Ctxt, function: &ActivityFn, args: &Arguments) -> Option<()> {
    if function.receiver.is_none() {
        let message = if args.system.is_none() {
            "a tenant activity takes `self: Arc<Self>`: the worker verifies its input with the \
             `InputVerifier` of the block's type"
        } else {
            "a system activity takes `self: Arc<Self>`: the worker verifies its system token \
             with the `InputVerifier` of the block's type"
        };
        cx.error_with_help(
            &function.ident,
            message,
            "write `self: Arc<Self>` first, and implement `tenant::temporal::TenantActivities` \
             for the block's type",
        );
        return None;
    }
    Some(())
}

/// A `#[tenant::activities]` block without activities is a forgotten marker, or the SDK's macro
/// was meant.
fn check_not_empty(cx: &mut Ctxt, block: &ActivitiesBlock, activities: &[Activity<'_>]) {
    if activities.is_empty() {
        cx.error_with_help(
            &block.self_ty,
            "this #[tenant::activities] block has no `#[activity]` method",
            "mark each activity method with `#[activity]`, or use the SDK's `#[activities]` for \
             a block without tenant activities",
        );
    }
}
