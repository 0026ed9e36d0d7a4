//! The tenant registry: which tenants exist, their plan and schema, and whether they are active.
//! The request boundary looks tenants up here before it builds a [`TenantCtx`].

use std::future::Future;
use std::time::SystemTime;

use crate::{Error, Plan, SchemaName, TenantCtx, TenantId};

/// One tenant, as the registry stores it.
#[derive(Debug, Clone, PartialEq)]
pub struct Tenant {
    /// The tenant's id: what `TenantCtx::tenant_id` and the `X-Tenant-ID` header carry.
    pub id: TenantId,
    /// The unique, indexed slug used in subdomains and path segments. Same grammar as a
    /// [`TenantId`] (a DNS label), so it is one.
    pub slug: TenantId,
    /// Display name.
    pub name: String,
    /// Subscription plan: decides the fairness weight.
    pub plan: Plan,
    /// The tenant's database schema.
    pub schema_name: SchemaName,
    /// An inactive tenant resolves to an error, never to a context.
    pub is_active: bool,
    /// When the tenant was created.
    pub created_at: SystemTime,
    /// When the record last changed.
    pub updated_at: SystemTime,
}

impl Tenant {
    /// The context of this tenant. Crate-private: only the resolver, after its checks, turns a
    /// registry record into a context.
    #[allow(dead_code)]
    pub(crate) fn context(&self) -> TenantCtx {
        TenantCtx::trusted(self.id.clone(), self.schema_name.clone(), self.plan.clone())
    }
}

/// Where tenants are looked up. Implemented by the in-memory registry built from configuration,
/// by the sqlx-backed store, and by the caching wrapper around either.
pub trait TenantRegistry: Send + Sync {
    /// The tenant with this id, active or not.
    fn find_by_id(
        &self,
        id: &TenantId,
    ) -> impl Future<Output = Result<Option<Tenant>, Error>> + Send;

    /// The tenant with this slug, active or not.
    fn find_by_slug(
        &self,
        slug: &TenantId,
    ) -> impl Future<Output = Result<Option<Tenant>, Error>> + Send;
}
