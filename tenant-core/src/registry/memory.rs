//! [`InMemoryRegistry`]: a fixed set of tenants, for configuration-only deployments and tests.

use std::collections::HashMap;

use super::{Tenant, TenantRegistry, now_unix_millis};
use crate::{Error, Plan, SchemaName, TenantId};

/// A registry holding a fixed set of tenants in memory: the registry of a single-tenant or
/// configuration-only deployment, and a stand-in for the database in tests.
///
/// Lookups by id and by slug are hash-map reads; nothing is ever added or removed after
/// construction.
///
/// ```
/// use std::time::SystemTime;
/// use tenant::registry::InMemoryRegistry;
/// use tenant::{Plan, Tenant, TenantRegistry};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let now = SystemTime::now();
/// let acme = Tenant {
///     id: "0b9a4c1e-3f5d-4a51-9d55-0f6f1c9c2a10".parse()?,
///     slug: "acme".parse()?,
///     name: "Acme Corp.".into(),
///     plan: Plan::Enterprise,
///     schema_name: "tenant_acme".parse()?,
///     is_active: true,
///     limits: None,
///     placement: Default::default(),
///     created_at: now,
///     updated_at: now,
/// };
/// let registry = InMemoryRegistry::new([acme.clone()])?;
///
/// assert_eq!(registry.find_by_slug(&"acme".parse()?).await?, Some(acme.clone()));
/// assert_eq!(registry.find_by_id(&acme.id).await?, Some(acme));
/// assert_eq!(registry.find_by_id(&"acme".parse()?).await?, None); // a slug is not an id
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct InMemoryRegistry {
    by_id: HashMap<TenantId, Tenant>,
    /// slug -> id
    by_slug: HashMap<TenantId, TenantId>,
}

impl InMemoryRegistry {
    /// A registry of `tenants`. Ids and slugs are one namespace (a request names a tenant by
    /// either), so two tenants with the same id, the same slug, or one's slug equal to the
    /// other's id are an [`Error::DuplicateTenant`]; two with the same schema are an
    /// [`Error::DuplicateSchema`]. Configuration that names a tenant twice is refused, not
    /// resolved by whichever entry came last.
    ///
    /// ```
    /// use std::time::SystemTime;
    /// use tenant::registry::InMemoryRegistry;
    /// use tenant::{Error, Plan, Tenant};
    ///
    /// let tenant = |id: &str, slug: &str| Tenant {
    ///     id: id.parse().unwrap(),
    ///     slug: slug.parse().unwrap(),
    ///     name: id.to_uppercase(),
    ///     plan: Plan::Free,
    ///     schema_name: format!("tenant_{id}").parse().unwrap(),
    ///     is_active: true,
    ///     limits: None,
    ///     placement: Default::default(),
    ///     created_at: SystemTime::now(),
    ///     updated_at: SystemTime::now(),
    /// };
    ///
    /// let same_slug = [tenant("acme", "acme"), tenant("globex", "acme")];
    /// let err = InMemoryRegistry::new(same_slug).unwrap_err();
    /// assert!(matches!(err, Error::DuplicateTenant { field: "slug", .. }));
    /// let err = InMemoryRegistry::new([tenant("acme", "a"), tenant("acme", "b")]).unwrap_err();
    /// assert!(matches!(err, Error::DuplicateTenant { field: "id", .. }));
    /// // A slug that is another tenant's id would make `X-Tenant-ID: acme` and `/t/acme/` differ.
    /// let err = InMemoryRegistry::new([tenant("acme", "acme"), tenant("globex", "acme-x")]);
    /// assert!(err.is_ok());
    /// let err = InMemoryRegistry::new([tenant("acme", "a"), tenant("globex", "acme")]).unwrap_err();
    /// assert!(matches!(err, Error::DuplicateTenant { field: "slug", .. }));
    /// let mut twin = tenant("globex", "globex");
    /// twin.schema_name = "tenant_acme".parse().unwrap();
    /// let err = InMemoryRegistry::new([tenant("acme", "acme"), twin]).unwrap_err();
    /// assert!(matches!(err, Error::DuplicateSchema { .. }));
    /// ```
    pub fn new(tenants: impl IntoIterator<Item = Tenant>) -> Result<Self, Error> {
        let tenants = tenants.into_iter();
        let mut registry = InMemoryRegistry {
            by_id: HashMap::with_capacity(tenants.size_hint().0),
            by_slug: HashMap::with_capacity(tenants.size_hint().0),
        };
        let mut schemas = std::collections::HashSet::new();
        for tenant in tenants {
            // Ids and slugs are one namespace: a name may belong to one tenant only.
            let id_taken = registry.by_id.contains_key(&tenant.id)
                || registry
                    .by_slug
                    .get(&tenant.id)
                    .is_some_and(|owner| *owner != tenant.id);
            if id_taken {
                return Err(Error::DuplicateTenant {
                    field: "id",
                    value: tenant.id,
                });
            }
            let slug_taken = registry.by_slug.contains_key(&tenant.slug)
                || (tenant.slug != tenant.id && registry.by_id.contains_key(&tenant.slug));
            if slug_taken {
                return Err(Error::DuplicateTenant {
                    field: "slug",
                    value: tenant.slug,
                });
            }
            if !schemas.insert(tenant.schema_name.clone()) {
                return Err(Error::DuplicateSchema {
                    schema: tenant.schema_name,
                });
            }
            registry
                .by_slug
                .insert(tenant.slug.clone(), tenant.id.clone());
            registry.by_id.insert(tenant.id.clone(), tenant);
        }
        Ok(registry)
    }

    /// A registry of active free-plan tenants named only by id, as configuration such as
    /// `DEFAULT_TENANT_ID` or `ALLOWED_TENANTS` names them. Each tenant's slug and name are its
    /// id, its schema is `tenant_` followed by the id with `-` replaced by `_`, and its
    /// timestamps are now.
    ///
    /// A repeated id is an [`Error::DuplicateTenant`]. An id longer than 56 bytes gives a schema
    /// name over PostgreSQL's 63-byte limit and is an [`Error::InvalidSchemaName`].
    ///
    /// ```
    /// use tenant::registry::InMemoryRegistry;
    /// use tenant::{Plan, TenantId, TenantRegistry};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let registry = InMemoryRegistry::from_ids(["acme-eu".parse::<TenantId>()?])?;
    /// let acme = registry.find_by_slug(&"acme-eu".parse()?).await?.unwrap();
    /// assert_eq!(acme.id.as_str(), "acme-eu");
    /// assert_eq!(acme.schema_name.as_str(), "tenant_acme_eu");
    /// assert_eq!((acme.plan, acme.is_active), (Plan::Free, true));
    /// # Ok(())
    /// # }
    /// ```
    pub fn from_ids(ids: impl IntoIterator<Item = TenantId>) -> Result<Self, Error> {
        let (_, now) = now_unix_millis();
        let tenants = ids
            .into_iter()
            .map(|id| {
                let schema_name: SchemaName =
                    format!("tenant_{}", id.as_str().replace('-', "_")).parse()?;
                Ok(Tenant {
                    slug: id.clone(),
                    name: id.as_str().to_owned(),
                    plan: Plan::Free,
                    schema_name,
                    is_active: true,
                    limits: None,
                    placement: Default::default(),
                    created_at: now,
                    updated_at: now,
                    id,
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        InMemoryRegistry::new(tenants)
    }

    /// How many tenants the registry holds.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether the registry holds no tenant.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// The tenants, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Tenant> + '_ {
        self.by_id.values()
    }

    fn get_by_slug(&self, slug: &TenantId) -> Option<Tenant> {
        self.by_slug
            .get(slug)
            .and_then(|id| self.by_id.get(id))
            .cloned()
    }
}

impl TenantRegistry for InMemoryRegistry {
    type Error = std::convert::Infallible;

    async fn find_by_id(&self, id: &TenantId) -> Result<Option<Tenant>, Self::Error> {
        Ok(self.by_id.get(id).cloned())
    }

    async fn find_by_slug(&self, slug: &TenantId) -> Result<Option<Tenant>, Self::Error> {
        Ok(self.get_by_slug(slug))
    }
}
