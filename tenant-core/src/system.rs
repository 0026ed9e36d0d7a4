//! [`SystemCtx`]: the explicit, audited capability to read across tenants.

use std::fmt;

use crate::Error;

/// The target of every audit event this crate emits.
pub const AUDIT_TARGET: &str = "tenant::audit";

/// The only way to read data across tenants, for jobs such as cleanup or billing exports.
///
/// It is built with a reason, a `&'static str` so the reason is code a reviewer can read, and
/// every construction and every use emits a `tracing` event at `INFO` on the target
/// [`AUDIT_TARGET`] that names the reason. No [`TenantCtx`](crate::TenantCtx) converts into it,
/// and it authorises reads only: a repository offers it reads, and changing a schema (creating
/// or dropping a tenant's schema, running migrations) takes a
/// [`ProvisionCtx`](crate::ProvisionCtx) instead.
///
/// ```
/// use tenant::SystemCtx;
///
/// let sys = SystemCtx::new("nightly purge of expired invoices")?;
/// assert_eq!(sys.reason(), "nightly purge of expired invoices");
/// assert!(SystemCtx::new("  ").is_err());
/// # Ok::<(), tenant::Error>(())
/// ```
pub struct SystemCtx {
    reason: &'static str,
}

impl SystemCtx {
    /// Creates a system context for `reason`, which must not be blank.
    pub fn new(reason: &'static str) -> Result<Self, Error> {
        if reason.trim().is_empty() {
            return Err(Error::MissingReason);
        }
        tracing::info!(target: AUDIT_TARGET, reason, "system context created");
        Ok(SystemCtx { reason })
    }

    /// Why this context exists.
    pub fn reason(&self) -> &'static str {
        self.reason
    }

    /// Records one cross-tenant operation in the audit trail: an `INFO` event on
    /// [`AUDIT_TARGET`] with the reason, the operation and what it touched. Every integration
    /// calls it at each use; call it too where your own code reads across tenants with it.
    ///
    /// ```
    /// let sys = tenant::SystemCtx::new("monthly billing export")?;
    /// sys.audit("export", "invoices");
    /// # Ok::<(), tenant::Error>(())
    /// ```
    pub fn audit(&self, operation: &'static str, table: &'static str) {
        tracing::info!(
            target: AUDIT_TARGET,
            reason = self.reason,
            operation,
            table,
            "system context used"
        );
    }
}

impl fmt::Debug for SystemCtx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SystemCtx")
            .field("reason", &self.reason)
            .finish()
    }
}
