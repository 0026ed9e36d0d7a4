//! The shard function against the published vectors (made by an independent Python reference,
//! tests/data/shard_reference.py), and the fraction of tenants that move when shards grow.

use std::num::NonZeroU32;
use std::time::Duration;

use tenant::routing::{QueueKind, Routing, shard_for};
use tenant::{Plan, PlanWeights, SignedClaim, SigningKeys, TenantCtx, TenantId};

fn signed(ctx: &TenantCtx, routing: &Routing) -> SignedClaim {
    let keys = SigningKeys::new("claims1", &[7; 32]).unwrap();
    SignedClaim::sign(ctx, &keys, &routing.audience(), Duration::from_secs(60)).unwrap()
}

fn shards(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap()
}

#[test]
fn matches_the_published_test_vectors() {
    let vectors = include_str!("data/shard_vectors.tsv");
    let mut checked = 0;
    for line in vectors.lines().skip(1) {
        let fields: Vec<&str> = line.split('\t').collect();
        let [tenant, count, expected] = fields[..] else {
            panic!("bad line {line:?}")
        };
        let tenant: TenantId = tenant.parse().unwrap();
        let got = shard_for(&tenant, shards(count.parse().unwrap()));
        assert_eq!(got.to_string(), expected, "{tenant} over {count} shards");
        checked += 1;
    }
    assert_eq!(checked, 550);
}

/// A `Routing` puts each tenant on the published shard, for contexts and signed claims alike.
#[test]
fn routes_follow_the_published_test_vectors() {
    let vectors = include_str!("data/shard_vectors.tsv");
    for line in vectors.lines().skip(1) {
        let fields: Vec<&str> = line.split('\t').collect();
        let [tenant, count, expected] = fields[..] else {
            panic!("bad line {line:?}")
        };
        let routing = Routing::new("prod", "tenants", shards(count.parse().unwrap()));
        let ctx = TenantCtx::trusted(
            tenant.parse().unwrap(),
            "tenant_x".parse().unwrap(),
            Plan::Free,
        );
        let claim = signed(&ctx, &routing);
        for kind in [QueueKind::Workflow, QueueKind::Activity] {
            let queue = format!("tenants-{}-{expected}", kind.as_str());
            assert_eq!(routing.route(&ctx, kind).task_queue, queue);
            assert_eq!(routing.route_claim(&claim, kind).task_queue, queue);
        }
    }
}

#[test]
fn growing_from_n_to_n_plus_1_moves_about_one_in_n_plus_1_all_to_the_new_shard() {
    let tenants: Vec<TenantId> = (0..20_000)
        .map(|i| format!("tenant-{i}").parse().unwrap())
        .collect();
    for n in [4u32, 16, 64] {
        let mut moved = 0;
        for tenant in &tenants {
            let (before, after) = (
                shard_for(tenant, shards(n)),
                shard_for(tenant, shards(n + 1)),
            );
            if before != after {
                assert_eq!(after, n, "{tenant} moved between old shards");
                moved += 1;
            }
        }
        let fraction = f64::from(moved) / tenants.len() as f64;
        let ideal = 1.0 / f64::from(n + 1);
        assert!(
            (fraction - ideal).abs() < ideal * 0.15,
            "N={n}: moved {fraction:.4}, ideal {ideal:.4}"
        );
    }
}

#[test]
fn routes_carry_the_shard_queue_and_the_plan_weight() {
    let ctx = TenantCtx::trusted(
        "globex".parse().unwrap(),
        "tenant_globex".parse().unwrap(),
        Plan::Pro,
    );
    let route = Routing::new("prod", "tenants", shards(8)).route(&ctx, QueueKind::Workflow);
    let shard = shard_for(ctx.tenant_id(), shards(8));
    assert_eq!(route.namespace, "prod");
    assert_eq!(route.task_queue, format!("tenants-workflow-{shard}"));
    assert_eq!(route.priority.fairness_key.as_str(), "globex");
    assert_eq!(route.priority.fairness_weight.get(), 3.0);
}

#[test]
fn configured_weights_apply_to_contexts_and_signed_claims() {
    let weights: PlanWeights = "free=2,pro=5,enterprise=50".parse().unwrap();
    let routing = Routing::new("prod", "tenants", shards(8)).with_weights(weights);
    let ctx = TenantCtx::trusted(
        "globex".parse().unwrap(),
        "tenant_globex".parse().unwrap(),
        Plan::Pro,
    );
    let route = routing.route(&ctx, QueueKind::Activity);
    assert_eq!(route.priority.fairness_weight.get(), 5.0);
    assert_eq!(
        routing.route_claim(&signed(&ctx, &routing), QueueKind::Activity),
        route
    );
    // The weight is the signed plan's: a free context's claim is routed as free.
    let free_ctx = TenantCtx::trusted(
        "globex".parse().unwrap(),
        "tenant_globex".parse().unwrap(),
        Plan::Free,
    );
    let free = routing.route_claim(&signed(&free_ctx, &routing), QueueKind::Activity);
    assert_eq!(free.priority.fairness_weight.get(), 2.0);
    assert_eq!(free.task_queue, route.task_queue);
}
