//! What row-level security on PostgreSQL is made of: the setting that carries a transaction's
//! tenant, and the policy generated from an entity's declaration. Below the backends (which set
//! the setting), [`TenantTx`](crate::TenantTx), the audit and migrations, which all use it.

#[cfg(feature = "postgres")]
use super::meta::EntityMeta;

/// The PostgreSQL setting a [`TenantTx`](crate::TenantTx) sets to its tenant's id,
/// transaction-locally, and that the row-level security policies of
/// [`Repo::row_level_security`](crate::Repo::row_level_security) compare every row with.
pub const TENANT_SETTING: &str = "app.tenant_id";

#[cfg(feature = "postgres")]
/// The name of the policy [`Repo::row_level_security`](crate::Repo::row_level_security) creates on every tenant table.
pub const TENANT_POLICY: &str = "tenant_isolation";

/// The policy's predicate: the row's tenant is the transaction's. Without a tenant set,
/// `current_setting(.., true)` is NULL (or `''` after a tenant-bound transaction on the same
/// connection ended), which equals no tenant id: the table shows nothing.
#[cfg(feature = "postgres")]
pub(crate) fn policy_predicate(meta: &EntityMeta) -> String {
    format!(
        "\"{}\" = current_setting('{TENANT_SETTING}', true)",
        meta.tenant_column()
    )
}

/// ENABLE and FORCE row-level security, and the tenant policy for USING and WITH CHECK.
/// Identifiers are plain SQL identifiers (the macro checks them), quoted.
#[cfg(feature = "postgres")]
pub(crate) fn statements(meta: &EntityMeta) -> Vec<String> {
    let table = meta.table;
    let predicate = policy_predicate(meta);
    vec![
        format!("ALTER TABLE \"{table}\" ENABLE ROW LEVEL SECURITY"),
        // Without FORCE the table's owner is exempt, and applications often connect as it.
        format!("ALTER TABLE \"{table}\" FORCE ROW LEVEL SECURITY"),
        format!("DROP POLICY IF EXISTS {TENANT_POLICY} ON \"{table}\""),
        format!(
            "CREATE POLICY {TENANT_POLICY} ON \"{table}\" USING ({predicate}) WITH CHECK ({predicate})"
        ),
    ]
}
