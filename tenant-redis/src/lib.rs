//! Redis for the [`tenant`](https://docs.rs/tenant) crate: [`TenantCache`], whose every call takes
//! the tenant's context and touches only that tenant's keys, and tenant events on Redis Streams
//! ([`EventStream`], [`EventConsumer`]) whose envelopes are signed ([`SigningKeys`]) and whose
//! tenant is checked against the registry before a handler runs. Use it through the `tenant`
//! facade (feature `redis`), which re-exports it as `tenant::redis`.
#![doc = include_str!("docs/cache_and_events.md")]

mod cache;
mod error;
pub mod events;
pub mod signing;

pub use cache::{DEFAULT_SCAN_LIMIT, NAMESPACE_MAX_LEN, TenantCache};
pub use error::Error;
pub use events::{EventConsumer, EventStream, TenantEvent};
pub use signing::{SigningKeys, SigningKeysError};
