//! Placement: the pools of every configured database ([`PoolSet`]), routed by a context's
//! placement, and the fence each database keeps of the tenants it holds ([`PlacementFence`]).

#[cfg(feature = "postgres")]
mod copy;
mod fence;
mod pool_set;
mod tenant_pool;

#[cfg(feature = "postgres")]
pub use copy::{TableSum, TablesAt, TenantCopy};
#[cfg(feature = "postgres")]
pub(crate) use fence::{PLACEMENT_ENTER_PLPGSQL, refusal};
pub use fence::{PlacedState, PlacementBackend, PlacementFence};
pub use pool_set::{DEFAULT_MAX_OPEN_POOLS, PoolSet, PoolSetBuilder, Routed, TENANT_PLACEHOLDER};
pub use tenant_pool::TenantPool;
