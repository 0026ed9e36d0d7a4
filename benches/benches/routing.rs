//! The cost of routing a tenant's work: the shard function alone, and `Routing::route`
//! (shard, task queue name, fairness key and weight).

use std::hint::black_box;
use std::num::NonZeroU32;

use criterion::{Criterion, criterion_group, criterion_main};
use tenant::routing::{QueueKind, Routing, shard_for};
use tenant::{Plan, TenantCtx};

fn routing(c: &mut Criterion) {
    let ctx = TenantCtx::trusted(
        "0b9a4c1e-3f5d-4a51-9d55-0f6f1c9c2a10".parse().unwrap(),
        "tenant_x".parse().unwrap(),
        Plan::Pro,
    );
    let mut group = c.benchmark_group("routing");
    for shards in [4u32, 64, 1024] {
        let shards = NonZeroU32::new(shards).unwrap();
        group.bench_function(format!("shard_for/{shards}"), |b| {
            b.iter(|| shard_for(black_box(ctx.tenant_id()), black_box(shards)))
        });
        let routing = Routing::new("default", "tenants", shards);
        group.bench_function(format!("route/{shards}"), |b| {
            b.iter(|| black_box(&routing).route(black_box(&ctx), QueueKind::Activity))
        });
    }
    group.finish();
}

criterion_group!(benches, routing);
criterion_main!(benches);
