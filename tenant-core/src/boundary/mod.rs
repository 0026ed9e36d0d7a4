//! The request boundary: configuration, the resolver that turns a request into a
//! [`TenantCtx`](crate::TenantCtx), and the errors it answers with.

#[cfg(feature = "axum")]
mod axum;
mod config;
mod error;
#[cfg(feature = "http")]
mod resolver;

#[cfg(feature = "axum")]
pub use axum::{SharedResolver, TenantLayer, TenantService};
pub use config::{ConfigError, TenancyConfig};
pub use error::{PROBLEM_JSON, Problem, ResolveError, Source};
#[cfg(feature = "http")]
pub use resolver::{
    AuthenticatedUser, NoUsers, PATH_PREFIX, TENANT_HEADER, TenantResolver, UserHook,
};
