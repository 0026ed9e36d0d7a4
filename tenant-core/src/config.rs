//! Tenancy configuration: `MULTI_TENANCY_ENABLED`, `DEFAULT_TENANT_ID`, `ALLOWED_TENANTS`.

use std::collections::BTreeSet;

use crate::TenantId;

/// Why the tenancy configuration was rejected. Configuration errors stop start-up: a service
/// never falls back to a default tenant it was not told to use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// `MULTI_TENANCY_ENABLED` is not a boolean.
    #[error("MULTI_TENANCY_ENABLED must be true or false (or 1/0), not {0:?}")]
    InvalidFlag(String),
    /// Single-tenant mode without `DEFAULT_TENANT_ID`.
    #[error(
        "MULTI_TENANCY_ENABLED=false needs DEFAULT_TENANT_ID: single-tenant mode has no implicit tenant"
    )]
    MissingDefaultTenant,
    /// `DEFAULT_TENANT_ID` is not a valid tenant id.
    #[error("DEFAULT_TENANT_ID is not a valid tenant id: {0}")]
    InvalidDefaultTenant(crate::TenantIdError),
    /// An entry of `ALLOWED_TENANTS` is not a valid tenant id.
    #[error("ALLOWED_TENANTS entry {position} is not a valid tenant id: {error}")]
    InvalidAllowedTenant {
        /// 1-based position of the entry.
        position: usize,
        /// Why it is invalid.
        error: crate::TenantIdError,
    },
    /// The default tenant is not on the allow-list.
    #[error("DEFAULT_TENANT_ID is not in ALLOWED_TENANTS")]
    DefaultNotAllowed,
}

/// How requests map to tenants, usually read from the environment with
/// [`TenancyConfig::from_env`].
///
/// ```
/// use tenant::TenancyConfig;
///
/// let env = |name: &str| match name {
///     "ALLOWED_TENANTS" => Some("acme, globex".to_owned()),
///     _ => None,
/// };
/// let config = TenancyConfig::from_lookup(env)?;
/// assert!(config.multi_tenancy_enabled());
/// assert!(config.is_allowed(&"acme".parse()?));
/// assert!(!config.is_allowed(&"initech".parse()?));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenancyConfig {
    multi_tenancy_enabled: bool,
    default_tenant: Option<TenantId>,
    allowed: Option<BTreeSet<TenantId>>,
}

impl Default for TenancyConfig {
    /// Multi-tenant, no default tenant, every registered tenant allowed.
    fn default() -> Self {
        TenancyConfig {
            multi_tenancy_enabled: true,
            default_tenant: None,
            allowed: None,
        }
    }
}

impl TenancyConfig {
    /// Reads `MULTI_TENANCY_ENABLED` (default `true`), `DEFAULT_TENANT_ID` and `ALLOWED_TENANTS`
    /// (comma-separated tenant ids; unset or empty allows every registered tenant).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`from_env`](Self::from_env), reading the variables through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let multi_tenancy_enabled = match lookup("MULTI_TENANCY_ENABLED").as_deref().map(str::trim)
        {
            None | Some("") => true,
            Some(flag) => match flag.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => true,
                "false" | "0" | "no" | "off" => false,
                _ => return Err(ConfigError::InvalidFlag(flag.chars().take(32).collect())),
            },
        };
        let default_tenant = match lookup("DEFAULT_TENANT_ID").as_deref().map(str::trim) {
            None | Some("") => None,
            Some(id) => Some(id.parse().map_err(ConfigError::InvalidDefaultTenant)?),
        };
        let allowed = match lookup("ALLOWED_TENANTS") {
            None => None,
            Some(list) if list.trim().is_empty() => None,
            Some(list) => Some(
                list.split(',')
                    .map(str::trim)
                    .enumerate()
                    .map(|(i, id)| {
                        id.parse()
                            .map_err(|error| ConfigError::InvalidAllowedTenant {
                                position: i + 1,
                                error,
                            })
                    })
                    .collect::<Result<BTreeSet<_>, _>>()?,
            ),
        };
        let config = TenancyConfig {
            multi_tenancy_enabled,
            default_tenant,
            allowed,
        };
        config.validate()?;
        Ok(config)
    }

    /// Single-tenant mode: every request is `tenant`'s.
    pub fn single_tenant(tenant: TenantId) -> Self {
        TenancyConfig {
            multi_tenancy_enabled: false,
            default_tenant: Some(tenant),
            allowed: None,
        }
    }

    /// Only these tenants may be resolved; any other is rejected as not allowed.
    pub fn with_allowed(mut self, tenants: impl IntoIterator<Item = TenantId>) -> Self {
        self.allowed = Some(tenants.into_iter().collect());
        self
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if !self.multi_tenancy_enabled && self.default_tenant.is_none() {
            return Err(ConfigError::MissingDefaultTenant);
        }
        if let Some(default) = &self.default_tenant
            && !self.is_allowed(default)
        {
            return Err(ConfigError::DefaultNotAllowed);
        }
        Ok(())
    }

    /// Whether requests name their tenant (`true`) or all belong to the default one.
    pub fn multi_tenancy_enabled(&self) -> bool {
        self.multi_tenancy_enabled
    }

    /// The tenant of single-tenant mode.
    pub fn default_tenant(&self) -> Option<&TenantId> {
        self.default_tenant.as_ref()
    }

    /// The allow-list, if one is configured: with [`InMemoryRegistry::from_ids`] it is a
    /// registry built from configuration alone.
    ///
    /// ```
    /// use tenant::TenancyConfig;
    /// use tenant::InMemoryRegistry;
    ///
    /// let config = TenancyConfig::from_lookup(|name| {
    ///     (name == "ALLOWED_TENANTS").then(|| "acme,globex".to_owned())
    /// })?;
    /// let registry = InMemoryRegistry::from_ids(config.allowed_tenants().into_iter().flatten().cloned())?;
    /// assert_eq!(registry.len(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// [`InMemoryRegistry::from_ids`]: crate::InMemoryRegistry::from_ids
    pub fn allowed_tenants(&self) -> Option<impl Iterator<Item = &TenantId> + '_> {
        self.allowed.as_ref().map(|allowed| allowed.iter())
    }

    /// Whether the allow-list (if any) admits `tenant`.
    pub fn is_allowed(&self, tenant: &TenantId) -> bool {
        self.allowed
            .as_ref()
            .is_none_or(|allowed| allowed.contains(tenant))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<TenancyConfig, ConfigError> {
        TenancyConfig::from_lookup(|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn defaults_to_multi_tenant_with_everything_allowed() {
        let c = config(&[]).unwrap();
        assert!(c.multi_tenancy_enabled());
        assert!(c.default_tenant().is_none());
        assert!(c.is_allowed(&"anyone".parse().unwrap()));
    }

    #[test]
    fn single_tenant_mode_needs_a_valid_allowed_default() {
        assert_eq!(
            config(&[("MULTI_TENANCY_ENABLED", "false")]),
            Err(ConfigError::MissingDefaultTenant)
        );
        let c = config(&[
            ("MULTI_TENANCY_ENABLED", "0"),
            ("DEFAULT_TENANT_ID", "acme"),
        ])
        .unwrap();
        assert!(!c.multi_tenancy_enabled());
        assert_eq!(c.default_tenant().unwrap().as_str(), "acme");
        assert!(matches!(
            config(&[
                ("MULTI_TENANCY_ENABLED", "false"),
                ("DEFAULT_TENANT_ID", "ACME")
            ]),
            Err(ConfigError::InvalidDefaultTenant(_))
        ));
        assert_eq!(
            config(&[("DEFAULT_TENANT_ID", "acme"), ("ALLOWED_TENANTS", "globex")]),
            Err(ConfigError::DefaultNotAllowed)
        );
    }

    #[test]
    fn garbage_is_rejected() {
        assert!(matches!(
            config(&[("MULTI_TENANCY_ENABLED", "maybe")]),
            Err(ConfigError::InvalidFlag(_))
        ));
        assert_eq!(
            config(&[("ALLOWED_TENANTS", "acme,,globex")])
                .map(|_| ())
                .unwrap_err(),
            ConfigError::InvalidAllowedTenant {
                position: 2,
                error: crate::TenantIdError::Empty
            }
        );
        assert!(config(&[("ALLOWED_TENANTS", "acme,'; drop")]).is_err());
    }
}
