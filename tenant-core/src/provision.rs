//! [`ProvisionCtx`]: the explicit, audited capability to create and drop tenants' schemas.

use std::fmt;

use crate::{AUDIT_TARGET, Error};

/// The capability to change a database's structure for tenants: create a tenant's schema with
/// its tables and run the application's migrations in it, and drop it at offboarding
/// (`tenant::sqlx::TenantSchema`).
///
/// It is not a [`SystemCtx`](crate::SystemCtx), which reads across tenants and nothing more: a
/// reporting job handed a `SystemCtx` cannot drop a schema with it, and a provisioning job
/// holds this instead of a cross-tenant read capability it does not need. Neither converts into
/// the other.
///
/// Like a `SystemCtx`, it is built with a reason, a `&'static str` so the reason is code a
/// reviewer can read; its construction and every use emit a `tracing` event at `INFO` on the
/// target [`AUDIT_TARGET`] that names the reason (and, for a use, the schema). The authority
/// inventory (`tenant-audit`) lists every `ProvisionCtx::new` as `provision`.
///
/// ```
/// use tenant::ProvisionCtx;
///
/// let provision = ProvisionCtx::new("signup: create the new tenant's schema")?;
/// assert_eq!(provision.reason(), "signup: create the new tenant's schema");
/// assert!(ProvisionCtx::new("").is_err());
/// # Ok::<(), tenant::Error>(())
/// ```
pub struct ProvisionCtx {
    reason: &'static str,
}

impl ProvisionCtx {
    /// Creates a provisioning context for `reason`, which must not be blank
    /// ([`Error::MissingReason`]).
    pub fn new(reason: &'static str) -> Result<Self, Error> {
        if reason.trim().is_empty() {
            return Err(Error::MissingReason);
        }
        tracing::info!(target: AUDIT_TARGET, reason, "provisioning context created");
        Ok(ProvisionCtx { reason })
    }

    /// Why this context exists.
    pub fn reason(&self) -> &'static str {
        self.reason
    }

    /// Records one structural change in the audit trail: an `INFO` event on [`AUDIT_TARGET`]
    /// with the reason, the operation and the schema it changes. `TenantSchema` calls it at
    /// each use; call it too where your own code changes a schema with it.
    ///
    /// ```
    /// let provision = tenant::ProvisionCtx::new("offboarding")?;
    /// provision.audit("drop_schema", "tenant_acme");
    /// # Ok::<(), tenant::Error>(())
    /// ```
    pub fn audit(&self, operation: &'static str, schema: &str) {
        tracing::info!(
            target: AUDIT_TARGET,
            reason = self.reason,
            operation,
            schema,
            "provisioning context used"
        );
    }
}

impl fmt::Debug for ProvisionCtx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProvisionCtx")
            .field("reason", &self.reason)
            .finish()
    }
}

/// What [`TenantSchema`]'s `create` and `drop` take: a [`ProvisionCtx`], and nothing else (the
/// trait is sealed). It exists so that handing them a [`SystemCtx`](crate::SystemCtx) (or
/// anything else) says, at compile time, which capability they need.
///
/// ```
/// use tenant::{Provisioning, ProvisionCtx};
///
/// fn reason_of(provision: &impl Provisioning) -> &'static str {
///     provision.provision_ctx().reason()
/// }
/// let provision = ProvisionCtx::new("signup")?;
/// assert_eq!(reason_of(&provision), "signup");
/// # Ok::<(), tenant::Error>(())
/// ```
///
/// [`TenantSchema`]: https://docs.rs/tenant-sqlx/latest/tenant_sqlx/struct.TenantSchema.html
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot create or drop a tenant's schema: that takes a `ProvisionCtx`",
    label = "not the provisioning capability",
    note = "a `SystemCtx` reads across tenants and nothing more; schema DDL and migrations take \
            `tenant::ProvisionCtx::new(\"reason\")`, audited on `tenant::audit`"
)]
pub trait Provisioning: sealed::Sealed + Send + Sync {
    /// The provisioning context itself.
    fn provision_ctx(&self) -> &ProvisionCtx;
}

impl Provisioning for ProvisionCtx {
    fn provision_ctx(&self) -> &ProvisionCtx {
        self
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::ProvisionCtx {}
}
