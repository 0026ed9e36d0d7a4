//! Routing work for a tenant to a task queue shard, with Temporal fairness priority.
//!
//! The shard of a tenant is `jump(fnv1a64(tenant_id), shards)`:
//!
//! - `fnv1a64`: 64-bit FNV-1a over the UTF-8 bytes of the tenant id (offset basis
//!   `0xcbf29ce484222325`, prime `0x100000001b3`);
//! - `jump`: Lamping and Veach's jump consistent hash ("A Fast, Minimal Memory, Consistent Hash
//!   Algorithm", 2014), exactly as published, with 64-bit wrapping arithmetic and the LCG
//!   constant `2862933555777941757`.
//!
//! Both are fixed here for good: the same tenant lands on the same shard in every process, on
//! every machine and in every release, and a port in another language can check itself against
//! `tests/data/shard_vectors.tsv`. Going from N to N+1 shards moves about 1/(N+1) of the tenants,
//! all of them to the new shard.

use std::fmt;
use std::num::NonZeroU32;

use crate::signed::Audience;
use crate::{Error, Plan, PlanWeights, SignedClaim, TenantCtx, TenantId};

/// The shard of `tenant` among `shards`, in `0..shards`.
///
/// ```
/// use std::num::NonZeroU32;
/// use tenant::routing::shard_for;
///
/// let shards = NonZeroU32::new(16).unwrap();
/// let shard = shard_for(&"acme".parse()?, shards);
/// assert!(shard < 16);
/// assert_eq!(shard, shard_for(&"acme".parse()?, shards)); // stable
/// # Ok::<(), tenant::TenantIdError>(())
/// ```
pub fn shard_for(tenant: &TenantId, shards: NonZeroU32) -> u32 {
    jump_consistent_hash(fnv1a64(tenant.as_str().as_bytes()), shards.get())
}

fn fnv1a64(bytes: &[u8]) -> u64 {
    use std::hash::Hasher;
    // The `fnv` crate's hasher is 64-bit FNV-1a over the bytes written, nothing added.
    let mut hasher = fnv::FnvHasher::default();
    hasher.write(bytes);
    hasher.finish()
}

fn jump_consistent_hash(mut key: u64, buckets: u32) -> u32 {
    let (mut b, mut j): (i64, i64) = (-1, 0);
    while j < i64::from(buckets) {
        b = j;
        key = key.wrapping_mul(2_862_933_555_777_941_757).wrapping_add(1);
        j = ((b + 1) as f64 * ((1u64 << 31) as f64 / ((key >> 33) + 1) as f64)) as i64;
    }
    // 0 <= b < buckets, so it fits.
    b as u32
}

/// What kind of work a task queue carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueueKind {
    /// Workflow tasks.
    Workflow,
    /// Activity tasks.
    Activity,
}

impl QueueKind {
    /// The name used in task queue names.
    pub fn as_str(self) -> &'static str {
        match self {
            QueueKind::Workflow => "workflow",
            QueueKind::Activity => "activity",
        }
    }
}

/// The task queue `{prefix}-{kind}-{shard}`.
///
/// ```
/// use tenant::routing::{task_queue_name, QueueKind};
///
/// assert_eq!(task_queue_name("tenants", QueueKind::Activity, 3), "tenants-activity-3");
/// ```
pub fn task_queue_name(prefix: &str, kind: QueueKind, shard: u32) -> String {
    format!("{prefix}-{}-{shard}", kind.as_str())
}

/// Temporal's fairness key: at most 64 bytes, enforced when built.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FairnessKey(String);

/// The longest fairness key Temporal accepts, in bytes.
pub const FAIRNESS_KEY_MAX_LEN: usize = 64;

impl FairnessKey {
    /// A key for arbitrary text; longer than [`FAIRNESS_KEY_MAX_LEN`] bytes or empty is an error.
    pub fn new(key: impl Into<String>) -> Result<Self, Error> {
        let key = key.into();
        if key.is_empty() || key.len() > FAIRNESS_KEY_MAX_LEN {
            return Err(Error::InvalidFairnessKey { len: key.len() });
        }
        Ok(FairnessKey(key))
    }

    /// The key of a tenant: its id, which always fits (at most 63 bytes).
    pub fn for_tenant(tenant: &TenantId) -> Self {
        FairnessKey(tenant.as_str().to_owned())
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FairnessKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Temporal's fairness weight, inside its accepted range [0.001, 1000] by construction.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct FairnessWeight(f64);

impl FairnessWeight {
    /// The smallest weight Temporal accepts.
    pub const MIN: f64 = 0.001;
    /// The largest weight Temporal accepts.
    pub const MAX: f64 = 1000.0;

    /// A weight; outside the range, or not a number, is an error.
    pub fn new(weight: f64) -> Result<Self, Error> {
        if (Self::MIN..=Self::MAX).contains(&weight) {
            Ok(FairnessWeight(weight))
        } else {
            Err(Error::InvalidFairnessWeight)
        }
    }

    /// The weight of `plan` under `weights`, clamped into the accepted range (configured weights
    /// are positive and finite, but may be larger than Temporal allows).
    pub fn for_plan(plan: &Plan, weights: &PlanWeights) -> Self {
        FairnessWeight(weights.weight(plan).clamp(Self::MIN, Self::MAX))
    }

    /// The weight as a number.
    pub fn get(self) -> f64 {
        self.0
    }
}

/// Temporal priority fields for a tenant's work.
#[derive(Debug, Clone, PartialEq)]
pub struct Priority {
    /// Tasks with the same key share one fair slice of the queue: the tenant.
    pub fairness_key: FairnessKey,
    /// The tenant's share relative to other keys: its plan's weight.
    pub fairness_weight: FairnessWeight,
}

/// Where and how a tenant's work runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// The Temporal namespace.
    pub namespace: String,
    /// The sharded task queue.
    pub task_queue: String,
    /// Fairness by tenant, weighted by plan.
    pub priority: Priority,
}

/// Where a deployment's tenant work runs: a Temporal namespace, the task queues
/// `{prefix}-{kind}-{shard}` over `shards` shards, and the plan weights that set each tenant's
/// fairness weight. One value routes a [`TenantCtx`] (code that holds a context) and a
/// [`SignedClaim`] (workflow code), is the [`Audience`] claims are signed for, and the worker's
/// verifier checks tasks against the same value, so the two sides cannot be configured apart
/// argument by argument.
///
/// A `Routing` is valid by construction: the shard count is non-zero and the weights are
/// [`PlanWeights`], which are validated when parsed.
///
/// ```
/// use std::time::Duration;
/// use tenant::routing::{QueueKind, Routing};
/// use tenant::{Plan, PlanWeights, SignedClaim, SigningKeys, TenantCtx};
///
/// let routing = Routing::new("default", "tenants", 8.try_into()?)
///     .with_weights("free=1,pro=3,enterprise=20".parse::<PlanWeights>()?);
/// let ctx = TenantCtx::trusted("acme".parse()?, "tenant_acme".parse()?, Plan::Enterprise);
///
/// let route = routing.route(&ctx, QueueKind::Activity);
/// assert_eq!(route.namespace, "default");
/// assert!(route.task_queue.starts_with("tenants-activity-"));
/// assert_eq!(route.priority.fairness_key.as_str(), "acme");
/// assert_eq!(route.priority.fairness_weight.get(), 20.0);
///
/// // Workflow code holds a signed claim: the same route, with the plan it was signed with.
/// let keys = SigningKeys::new("claims1", &[7; 32])?;
/// let claim = SignedClaim::sign(&ctx, &keys, &routing.audience(), Duration::from_secs(600))?;
/// assert_eq!(routing.route_claim(&claim, QueueKind::Activity), route);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Routing {
    namespace: String,
    prefix: String,
    shards: NonZeroU32,
    weights: PlanWeights,
}

impl Routing {
    /// Routes in `namespace` to the task queues `{prefix}-{kind}-{shard}`, over `shards` shards,
    /// with the default plan weights (free=1, pro=3, enterprise=10).
    pub fn new(
        namespace: impl Into<String>,
        prefix: impl Into<String>,
        shards: NonZeroU32,
    ) -> Self {
        Routing {
            namespace: namespace.into(),
            prefix: prefix.into(),
            shards,
            weights: PlanWeights::default(),
        }
    }

    /// The same routing with `weights` as the plans' fairness weights.
    pub fn with_weights(mut self, weights: PlanWeights) -> Self {
        self.weights = weights;
        self
    }

    /// The Temporal namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The task queue prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The number of shards.
    pub fn shards(&self) -> NonZeroU32 {
        self.shards
    }

    /// The plan weights.
    pub fn weights(&self) -> &PlanWeights {
        &self.weights
    }

    /// The route of `ctx`'s work of `kind`: the task queue of its tenant's shard, and priority
    /// with `fairness_key = tenant_id` and `fairness_weight = ` its plan's weight.
    pub fn route(&self, ctx: &TenantCtx, kind: QueueKind) -> Route {
        self.route_tenant(ctx.tenant_id(), ctx.plan(), kind)
    }

    /// The route of a signed claim's work, for code that holds a [`SignedClaim`] and no context
    /// (workflow code, which must stay deterministic and cannot ask the registry). The fairness
    /// weight is the weight of the plan the claim was signed with, which nobody without a key
    /// can change; the worker checks the signature, and that the task arrived on this route:
    /// the tenant's queue, its fairness key and this weight.
    pub fn route_claim(&self, claim: &SignedClaim, kind: QueueKind) -> Route {
        self.route_tenant(claim.tenant_id(), claim.plan(), kind)
    }

    /// Who claims for this routing's workers are signed for: its namespace and task-queue
    /// prefix.
    ///
    /// ```
    /// use tenant::routing::Routing;
    ///
    /// let audience = Routing::new("default", "provisioning", 4.try_into()?).audience();
    /// assert_eq!((audience.namespace(), audience.queue_prefix()), ("default", "provisioning"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn audience(&self) -> Audience {
        Audience::new(self.namespace.clone(), self.prefix.clone())
    }

    fn route_tenant(&self, tenant: &TenantId, plan: &Plan, kind: QueueKind) -> Route {
        let shard = shard_for(tenant, self.shards);
        Route {
            namespace: self.namespace.clone(),
            task_queue: task_queue_name(&self.prefix, kind, shard),
            priority: Priority {
                fairness_key: FairnessKey::for_tenant(tenant),
                fairness_weight: FairnessWeight::for_plan(plan, &self.weights),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_matches_the_published_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn fairness_bounds() {
        assert!(FairnessKey::new("x".repeat(64)).is_ok());
        assert!(FairnessKey::new("x".repeat(65)).is_err());
        assert!(FairnessKey::new("").is_err());
        assert!(FairnessWeight::new(0.0005).is_err());
        assert!(FairnessWeight::new(1000.5).is_err());
        assert!(FairnessWeight::new(f64::NAN).is_err());
        assert_eq!(FairnessWeight::new(0.001).unwrap().get(), 0.001);
        let huge: PlanWeights = "enterprise=5000".parse().unwrap();
        assert_eq!(
            FairnessWeight::for_plan(&Plan::Enterprise, &huge).get(),
            1000.0
        );
        assert_eq!(
            FairnessWeight::for_plan(&Plan::Pro, &PlanWeights::default()).get(),
            3.0
        );
    }
}
