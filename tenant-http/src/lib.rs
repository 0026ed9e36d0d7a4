//! The request boundary of the [`tenant`](https://docs.rs/tenant) crate: the resolver that turns
//! an HTTP request into a [`TenantCtx`](tenant_core::TenantCtx) after the registry and the
//! application's user hook have vouched for it, and the RFC 9457 problems it answers with
//! otherwise. A resolver is usable only once the application chose how it authenticates: a
//! [`UserHook`], or a deliberate [`anonymous`](TenantResolverBuilder::anonymous). Feature
//! `axum`: the extractors (`TenantCtx`, [`Member`], [`AnyCaller`]) and [`TenantLayer`]. Use it through the `tenant` facade (features
//! `http`, `axum`), which re-exports it as `tenant::http`.
#![doc = include_str!("docs/boundary.md")]

#[cfg(feature = "axum")]
mod axum;
#[cfg(feature = "fair")]
mod fair;
mod problem;
mod resolver;
mod retry;
mod users;

#[cfg(feature = "axum")]
#[doc(hidden)]
pub use axum::AuthenticationChosen;
#[cfg(feature = "axum")]
pub use axum::{AnyCaller, SharedResolver, TenantLayer, TenantService};
#[cfg(feature = "fair")]
pub use fair::{
    DEFAULT_FULL_WEIGHT, FairConfigError, FairFuture, FairLayer, FairLayerBuilder, FairRejection,
    FairService, Limits,
};
pub use problem::{PROBLEM_JSON, Problem, ResolveError, Source};
pub use resolver::{PATH_PREFIX, TENANT_HEADER, TenantResolver, TenantResolverBuilder};
pub use retry::RetryLater;
pub use tenant_core::AuthenticatedUser;
pub use users::{Anonymous, Member, UserHook};
