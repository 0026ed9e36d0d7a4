//! Weighted fair admission (`FairLayer`) and the unknown-tenant flood guard, through a real
//! router: every limit enforced, a tenant within its own never refused, shares counted.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::routing::get;
use axum::{Extension, Router};
use tenant::http::{FairLayer, Limits, TenantLayer, TenantResolver};
use tenant::labels::TenantLabels;
use tenant::registry::{CachedRegistry, FloodGuard, InMemoryRegistry};
use tenant::{Plan, TenancyConfig, Tenant, TenantCtx, TenantId, TenantRegistry};
use tokio::sync::Semaphore;
use tower::ServiceExt;

fn id(name: &str) -> TenantId {
    name.parse().unwrap()
}

fn tenant(name: &str, plan: Plan) -> Tenant {
    let now = std::time::SystemTime::now();
    Tenant {
        id: id(name),
        slug: id(name),
        name: name.into(),
        plan,
        schema_name: format!("tenant_{name}").parse().unwrap(),
        is_active: true,
        created_at: now,
        updated_at: now,
        limits: None,
        placement: Default::default(),
    }
}

fn registry() -> InMemoryRegistry {
    InMemoryRegistry::new([
        tenant("ent", Plan::Enterprise),
        tenant("pro", Plan::Pro),
        tenant("free", Plan::Free),
        tenant("flooder", Plan::Free),
    ])
    .unwrap()
}

/// Requests served, in the order the handler ran them, and a gate the handler passes first.
#[derive(Clone, Default)]
struct Recorder {
    served: Arc<Mutex<Vec<TenantId>>>,
}

fn app(fair: FairLayer, recorder: Recorder, gate: Arc<Semaphore>) -> Router {
    let resolver = TenantResolver::new(registry(), TenancyConfig::default())
        .anonymous()
        .shared();
    Router::new()
        .route(
            "/work",
            get(move |ctx: Extension<TenantCtx>| {
                let recorder = recorder.clone();
                let gate = Arc::clone(&gate);
                async move {
                    recorder
                        .served
                        .lock()
                        .unwrap()
                        .push(ctx.tenant_id().clone());
                    // Each request takes one permit and gives it back: closed, it holds its slot.
                    drop(gate.acquire().await.unwrap());
                    "ok"
                }
            }),
        )
        .layer(fair)
        .layer(TenantLayer::new(resolver))
}

fn request(tenant: &str) -> http::Request<Body> {
    http::Request::get("/work")
        .header("x-tenant-id", tenant)
        .body(Body::empty())
        .unwrap()
}

async fn problem_type(response: http::Response<Body>) -> String {
    let body = axum::body::to_bytes(response.into_body(), 1 << 16)
        .await
        .unwrap();
    let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
    value["type"].as_str().unwrap().to_owned()
}

/// Yields until `done` holds; the spawned requests run on this thread in between.
async fn until(mut done: impl FnMut() -> bool) {
    for _ in 0..10_000 {
        if done() {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("the condition never held");
}

fn lots() -> Limits {
    Limits::new(1_000_000, 1_000_000, 1_000).unwrap()
}

#[tokio::test(flavor = "current_thread")]
async fn a_tenant_over_its_rate_is_refused_and_the_others_never_are() {
    // The free plan: 1 a second, bursts of 3; the others far above what the test sends.
    let fair = FairLayer::builder(8, lots())
        .plan(Plan::Free, Limits::new(1, 3, 8).unwrap())
        .build()
        .unwrap();
    let app = app(fair, Recorder::default(), Arc::new(Semaphore::new(1)));
    let mut statuses: HashMap<&str, Vec<u16>> = HashMap::new();
    for _ in 0..20 {
        for name in ["flooder", "ent", "pro"] {
            let response = app.clone().oneshot(request(name)).await.unwrap();
            let status = response.status().as_u16();
            if status == 429 {
                let retry: u64 = response.headers()["retry-after"]
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                assert!(retry >= 1);
                assert_eq!(
                    response.headers()["content-type"],
                    "application/problem+json"
                );
                assert_eq!(
                    problem_type(response).await,
                    "urn:tenant:problem:rate-limited"
                );
            }
            statuses.entry(name).or_default().push(status);
        }
    }
    // The burst of 3 (and at most one more token if a second passed), then refusals.
    let admitted = statuses["flooder"].iter().filter(|s| **s == 200).count();
    assert!((3..=4).contains(&admitted), "{:?}", statuses["flooder"]);
    assert!(statuses["flooder"].contains(&429));
    assert!(statuses["ent"].iter().all(|s| *s == 200));
    assert!(statuses["pro"].iter().all(|s| *s == 200));
}

#[tokio::test(flavor = "current_thread")]
async fn a_tenant_override_replaces_its_plans_limits() {
    let fair = FairLayer::builder(8, lots())
        .plan(Plan::Free, Limits::new(1, 1, 8).unwrap())
        .tenant(id("free"), lots())
        .build()
        .unwrap();
    let app = app(fair, Recorder::default(), Arc::new(Semaphore::new(1)));
    for _ in 0..10 {
        assert_eq!(
            app.clone().oneshot(request("free")).await.unwrap().status(),
            200
        );
    }
    // The other free tenant keeps the plan's limit.
    assert_eq!(
        app.clone()
            .oneshot(request("flooder"))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        app.clone()
            .oneshot(request("flooder"))
            .await
            .unwrap()
            .status(),
        429
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_full_queue_refuses_only_its_own_tenant() {
    let limits = Limits::new(1_000_000, 1_000_000, 2).unwrap();
    let fair = FairLayer::builder(1, limits).build().unwrap();
    let gate = Arc::new(Semaphore::new(0));
    let app = app(fair.clone(), Recorder::default(), Arc::clone(&gate));

    // One request holds the only slot.
    let holder = tokio::spawn(app.clone().oneshot(request("ent")));
    until(|| fair.in_flight() == 1).await;
    // The flooder fills its queue of 2; its third is refused at once.
    let queued: Vec<_> = (0..2)
        .map(|_| tokio::spawn(app.clone().oneshot(request("flooder"))))
        .collect();
    until(|| fair.queued(&id("flooder")) == 2).await;
    let refused = app.clone().oneshot(request("flooder")).await.unwrap();
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.headers()["retry-after"], "1");
    assert_eq!(
        problem_type(refused).await,
        "urn:tenant:problem:tenant-queue-full"
    );
    // The other tenants' queues are their own: they wait, and are not refused.
    let others: Vec<_> = ["pro", "free", "pro", "free"]
        .into_iter()
        .map(|name| tokio::spawn(app.clone().oneshot(request(name))))
        .collect();
    until(|| fair.queued(&id("pro")) == 2 && fair.queued(&id("free")) == 2).await;

    gate.add_permits(1);
    assert_eq!(holder.await.unwrap().unwrap().status(), 200);
    for task in queued.into_iter().chain(others) {
        assert_eq!(task.await.unwrap().unwrap().status(), 200);
    }
    assert_eq!(fair.in_flight(), 0);
}

/// Under saturation (one slot, every tenant backlogged), the slots go 10 : 3 : 1 : 1 to the
/// enterprise, pro and two free tenants, counted over the order the handler ran them.
#[tokio::test(flavor = "current_thread")]
async fn backlogged_tenants_are_served_in_proportion_to_their_weights() {
    let fair = FairLayer::builder(1, lots()).build().unwrap();
    let gate = Arc::new(Semaphore::new(0));
    let recorder = Recorder::default();
    let app = app(fair.clone(), recorder.clone(), Arc::clone(&gate));

    let holder = tokio::spawn(app.clone().oneshot(request("pro")));
    until(|| fair.in_flight() == 1).await;
    // The flooder queued first and most: it still gets only its weight.
    let mut tasks = Vec::new();
    for (name, count) in [("flooder", 60), ("ent", 100), ("pro", 30), ("free", 10)] {
        for _ in 0..count {
            tasks.push(tokio::spawn(app.clone().oneshot(request(name))));
        }
    }
    until(|| fair.queued(&id("free")) == 10 && fair.queued(&id("flooder")) == 60).await;
    gate.add_permits(1);
    assert_eq!(holder.await.unwrap().unwrap().status(), 200);
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap().status(), 200);
    }

    let served = recorder.served.lock().unwrap().clone();
    // The holder, then 10 rounds of 15 while all four are backlogged.
    let mut counts: HashMap<String, usize> = HashMap::new();
    for tenant in &served[1..151] {
        *counts.entry(tenant.to_string()).or_default() += 1;
    }
    assert_eq!(counts["ent"], 100);
    assert_eq!(counts["pro"], 30);
    assert_eq!(counts["free"], 10);
    assert_eq!(counts["flooder"], 10);
    assert_eq!(served.len(), 201);
}

/// A tenant below its share is not made to wait behind the backlogged ones: with one slot and
/// three tenants backlogged (the flooder queued first and most), a free tenant's lone request is
/// served within one round of the others' turns (at most 10 + 3 + 1 requests before it), and
/// again when it comes back.
#[tokio::test(flavor = "current_thread")]
async fn a_tenant_below_its_share_is_served_within_one_round() {
    let fair = FairLayer::builder(1, lots()).build().unwrap();
    let gate = Arc::new(Semaphore::new(0));
    let recorder = Recorder::default();
    let app = app(fair.clone(), recorder.clone(), Arc::clone(&gate));

    let holder = tokio::spawn(app.clone().oneshot(request("pro")));
    until(|| fair.in_flight() == 1).await;
    let mut tasks = Vec::new();
    for (name, count) in [("flooder", 200), ("ent", 200), ("pro", 200)] {
        for _ in 0..count {
            tasks.push(tokio::spawn(app.clone().oneshot(request(name))));
        }
    }
    until(|| fair.queued(&id("pro")) == 200).await;
    let light = tokio::spawn(app.clone().oneshot(request("free")));
    until(|| fair.queued(&id("free")) == 1).await;
    gate.add_permits(1);
    assert_eq!(light.await.unwrap().unwrap().status(), 200);
    let at = |served: &[TenantId], after: usize| {
        served[after..]
            .iter()
            .position(|t| t.as_str() == "free")
            .unwrap()
    };
    let first = at(&recorder.served.lock().unwrap(), 1);
    assert!(
        first <= 14,
        "the light tenant waited behind {first} requests"
    );
    // It comes back while the others are still backlogged: again within one round.
    let mark = recorder.served.lock().unwrap().len();
    let again = app.clone().oneshot(request("free")).await.unwrap();
    assert_eq!(again.status(), 200);
    let second = at(&recorder.served.lock().unwrap(), mark);
    assert!(
        second <= 14,
        "the light tenant waited behind {second} requests"
    );
    assert!(
        fair.queued(&id("ent")) > 0,
        "the others ran dry: the test proves nothing"
    );
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap().status(), 200);
    }
    assert_eq!(holder.await.unwrap().unwrap().status(), 200);
}

#[tokio::test(flavor = "current_thread")]
async fn a_request_dropped_while_queued_gives_its_place_up() {
    let fair = FairLayer::builder(1, lots()).build().unwrap();
    let gate = Arc::new(Semaphore::new(0));
    let app = app(fair.clone(), Recorder::default(), Arc::clone(&gate));
    let holder = tokio::spawn(app.clone().oneshot(request("ent")));
    until(|| fair.in_flight() == 1).await;
    let dropped = tokio::spawn(app.clone().oneshot(request("pro")));
    until(|| fair.queued(&id("pro")) == 1).await;
    dropped.abort();
    assert!(dropped.await.unwrap_err().is_cancelled());

    gate.add_permits(1);
    assert_eq!(holder.await.unwrap().unwrap().status(), 200);
    assert_eq!(fair.in_flight(), 0);
    // The slot is free again: a new request runs at once.
    assert_eq!(app.oneshot(request("free")).await.unwrap().status(), 200);
    assert_eq!(fair.in_flight(), 0);
}

#[tokio::test(flavor = "current_thread")]
async fn the_layer_without_tenant_layer_in_front_answers_a_typed_problem() {
    let fair = FairLayer::builder(1, lots()).build().unwrap();
    let app = Router::new()
        .route("/work", get(|| async { "ok" }))
        .layer(fair);
    let response = app.oneshot(request("ent")).await.unwrap();
    assert_eq!(response.status(), 500);
    assert_eq!(
        problem_type(response).await,
        "urn:tenant:problem:no-tenant-context"
    );
}

#[test]
fn zero_limits_are_configuration_errors() {
    assert!(Limits::new(1, 0, 1).is_err());
    assert!(FairLayer::builder(0, lots()).build().is_err());
    for full_weight in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let built = FairLayer::builder(8, lots())
            .full_weight(full_weight)
            .build();
        assert!(built.is_err(), "{full_weight}");
    }
}

/// The metrics: the tenant label names at most `top` tenants, the rest are `other`; requests,
/// rejections by reason and queue waits are recorded.
#[test]
fn metrics_name_the_busiest_tenants_and_bound_the_rest() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            let fair = FairLayer::builder(8, lots())
                .plan(Plan::Free, Limits::new(1, 1, 8).unwrap())
                .metrics_labels(TenantLabels::new(2).refresh_every(60))
                .build()
                .unwrap();
            let app = app(fair, Recorder::default(), Arc::new(Semaphore::new(1)));
            for round in 0..600 {
                let name = match round % 6 {
                    0..=2 => "ent",
                    3 | 4 => "pro",
                    _ => {
                        if round % 12 == 5 {
                            "free"
                        } else {
                            "flooder"
                        }
                    }
                };
                app.clone().oneshot(request(name)).await.unwrap();
            }
        });
    });
    let mut tenants = std::collections::BTreeSet::new();
    let mut rejected: HashMap<String, u64> = HashMap::new();
    let mut requests = 0;
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let key = key.key();
        let label = |name: &str| {
            key.labels()
                .find(|l| l.key() == name)
                .map(|l| l.value().to_owned())
        };
        let tenant = label("tenant").unwrap();
        tenants.insert(tenant.clone());
        match (key.name(), value) {
            ("tenant_requests_total", DebugValue::Counter(n)) => requests += n,
            ("tenant_rejections_total", DebugValue::Counter(n)) => {
                assert_eq!(label("reason").as_deref(), Some("rate"));
                *rejected.entry(tenant).or_default() += n;
            }
            _ => {}
        }
    }
    assert_eq!(requests, 600);
    // ent and pro by name; the two free tenants (rate-limited) under `other`, once ranked.
    assert!(tenants.len() <= 3, "{tenants:?}");
    assert!(tenants.contains("ent") && tenants.contains("pro") && tenants.contains("other"));
    assert!(rejected["other"] >= 90, "{rejected:?}");
    assert!(!rejected.contains_key("ent") && !rejected.contains_key("pro"));
}

/// Counts the lookups that reach the registry.
struct Counting {
    inner: InMemoryRegistry,
    lookups: Mutex<u64>,
}

impl TenantRegistry for Counting {
    type Error = std::convert::Infallible;
    async fn find_by_id(&self, id: &TenantId) -> Result<Option<Tenant>, Self::Error> {
        *self.lookups.lock().unwrap() += 1;
        self.inner.find_by_id(id).await
    }
    async fn find_by_slug(&self, slug: &TenantId) -> Result<Option<Tenant>, Self::Error> {
        *self.lookups.lock().unwrap() += 1;
        self.inner.find_by_slug(slug).await
    }
}

/// A flood of never-repeating unknown ids reaches the registry at most the budget's burst
/// (plus a token a second), the rest answered `503 lookup-budget-spent` with `Retry-After`
/// before any lookup; a live tenant, looked up on every request (no cache of found tenants
/// here), is never refused. Before `FloodGuard`, every unknown id was a registry lookup.
#[tokio::test(flavor = "current_thread")]
async fn an_unknown_id_flood_spends_only_its_budget_and_live_tenants_still_resolve() {
    let counting = Arc::new(Counting {
        inner: registry(),
        lookups: Mutex::new(0),
    });
    let guarded = FloodGuard::new(Arc::clone(&counting), 1, 10).unwrap();
    // Found tenants are not cached, so every live request reaches the guard.
    let cached = Arc::new(CachedRegistry::new(guarded, Duration::ZERO, 0));
    let resolver = TenantResolver::new(Arc::clone(&cached), TenancyConfig::default())
        .anonymous()
        .shared();
    let app = Router::new()
        .route("/work", get(|| async { "ok" }))
        .layer(TenantLayer::new(resolver));
    // The live tenant is found once before the flood, so the guard knows it.
    assert_eq!(
        app.clone().oneshot(request("ent")).await.unwrap().status(),
        200
    );
    let started = std::time::Instant::now();
    let (mut unavailable, mut busy) = (0, 0);
    for n in 0..200 {
        let response = app
            .clone()
            .oneshot(request(&format!("nobody-{n}")))
            .await
            .unwrap();
        match response.status().as_u16() {
            404 => unavailable += 1,
            503 => {
                assert!(response.headers().contains_key("retry-after"));
                assert_eq!(
                    problem_type(response).await,
                    "urn:tenant:problem:lookup-budget-spent"
                );
                busy += 1;
            }
            other => panic!("unexpected status {other}"),
        }
        assert_eq!(
            app.clone().oneshot(request("ent")).await.unwrap().status(),
            200
        );
    }
    let refills = started.elapsed().as_secs() + 1;
    // The live tenant's first lookup took one token of the burst of 10.
    assert!(
        unavailable >= 9 && unavailable <= 9 + refills,
        "{unavailable}"
    );
    assert_eq!(unavailable + busy, 200);
    let lookups = *counting.lookups.lock().unwrap();
    // 2 per live request (the header's lookup and the claim's verification), 1 per unknown
    // id the budget let through.
    assert_eq!(lookups, 2 * 201 + unavailable);
}

/// A refusal over budget is not cached: a tenant never seen before, refused during the flood,
/// is found as soon as the budget has a token again, which is when its `retry_after` says
/// (read from the budget's own clock).
#[tokio::test(flavor = "current_thread")]
async fn a_refusal_over_budget_is_never_cached_as_unknown() {
    let guarded = FloodGuard::new(registry(), 1, 1).unwrap();
    let cached = CachedRegistry::new(guarded, Duration::from_secs(60), 100);
    assert!(cached.find_by_id(&id("nobody")).await.unwrap().is_none());
    let refused = cached.find_by_id(&id("pro")).await;
    let Err(tenant::registry::GuardError::OverBudget(over)) = refused else {
        panic!("not refused over budget: {refused:?}");
    };
    // One token a second, spent just now: the next one within the second, not at once.
    assert!(
        !over.retry_after.is_zero() && over.retry_after <= Duration::from_secs(1),
        "{:?}",
        over.retry_after
    );
    assert!(!cached.is_cached_by_id(&id("pro")));
    assert_eq!(cached.len(), 1); // only "nobody"
    tokio::time::sleep(over.retry_after + Duration::from_millis(20)).await;
    assert!(cached.find_by_id(&id("pro")).await.unwrap().is_some());
}

/// A process that starts in the middle of a flood has found nobody yet: the flood spends the
/// budget, and a live tenant's first lookup was refused with it (`503`, again and again while
/// the flood lasts). The tenants remembered at start (`FloodGuard::remember`, from the
/// registry's active ones) are served; a tenant created since still pays, as an unknown id does.
#[tokio::test(flavor = "current_thread")]
async fn a_restart_during_a_flood_refuses_no_remembered_tenant() {
    let app = |remembered: &[&str]| {
        let guard = FloodGuard::new(registry(), 1, 1).unwrap();
        for name in remembered {
            let registry = registry();
            let tenant = registry.iter().find(|t| t.id == id(name)).unwrap();
            guard.remember(tenant);
        }
        let cached = CachedRegistry::new(guard, Duration::from_secs(30), 100);
        let resolver = TenantResolver::new(cached, TenancyConfig::default())
            .anonymous()
            .shared();
        Router::new()
            .route("/work", get(|| async { "ok" }))
            .layer(TenantLayer::new(resolver))
    };
    for remembered in [&[][..], &["ent", "pro"][..]] {
        let app = app(remembered);
        // The flood comes first: its first unknown id takes the only token.
        for n in 0..5 {
            let status = app
                .clone()
                .oneshot(request(&format!("nobody-{n}")))
                .await
                .unwrap()
                .status();
            assert_eq!(status, if n == 0 { 404 } else { 503 }, "nobody-{n}");
        }
        for name in ["ent", "pro", "free"] {
            let status = app.clone().oneshot(request(name)).await.unwrap().status();
            let expected = if remembered.contains(&name) { 200 } else { 503 };
            assert_eq!(status, expected, "{name}, remembered: {remembered:?}");
        }
    }
    // An inactive tenant is not remembered: it stays a lookup that pays.
    let registry = registry();
    let mut inactive = registry
        .iter()
        .find(|t| t.id == id("ent"))
        .cloned()
        .unwrap();
    inactive.is_active = false;
    let guard = FloodGuard::new(registry.clone(), 1, 1).unwrap();
    guard.remember(&inactive);
    assert!(guard.find_by_id(&id("nobody")).await.unwrap().is_none());
    assert!(matches!(
        guard.find_by_id(&id("ent")).await,
        Err(tenant::registry::GuardError::OverBudget(_))
    ));
}

/// A registry whose lookups wait until released, counting them.
struct Slow {
    inner: InMemoryRegistry,
    release: tokio::sync::Notify,
    lookups: Mutex<u64>,
}

impl TenantRegistry for Slow {
    type Error = std::convert::Infallible;
    async fn find_by_id(&self, id: &TenantId) -> Result<Option<Tenant>, Self::Error> {
        *self.lookups.lock().unwrap() += 1;
        self.release.notified().await;
        self.inner.find_by_id(id).await
    }
    async fn find_by_slug(&self, slug: &TenantId) -> Result<Option<Tenant>, Self::Error> {
        self.find_by_id(slug).await
    }
}

/// Ten concurrent misses on one id make one registry lookup and share its answer (before
/// `FloodGuard`, `CachedRegistry` passed each of them on: ten lookups).
#[tokio::test(flavor = "current_thread")]
async fn concurrent_misses_on_one_id_make_one_lookup() {
    let slow = Arc::new(Slow {
        inner: registry(),
        release: tokio::sync::Notify::new(),
        lookups: Mutex::new(0),
    });
    let guarded = FloodGuard::new(Arc::clone(&slow), 1, 100).unwrap();
    let cached = Arc::new(CachedRegistry::new(guarded, Duration::from_secs(30), 100));
    let tasks: Vec<_> = (0..10)
        .map(|n| {
            let cached = Arc::clone(&cached);
            let name = if n % 2 == 0 { "pro" } else { "nobody" };
            tokio::spawn(async move { cached.find_by_id(&id(name)).await })
        })
        .collect();
    until(|| *slow.lookups.lock().unwrap() == 2).await;
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    slow.release.notify_waiters();
    for (n, task) in tasks.into_iter().enumerate() {
        let found = task.await.unwrap().unwrap();
        assert_eq!(found.is_some(), n % 2 == 0);
    }
    assert_eq!(*slow.lookups.lock().unwrap(), 2);
}

/// A tenant holds at most its weighted share of the slots, `⌈concurrency × weight / 14⌉`: with 14
/// slots the free tenant 1, while its other requests wait in its own queue beside free slots,
/// which the other tenants' requests take at once. When its request ends, its next one runs.
#[tokio::test(flavor = "current_thread")]
async fn a_tenant_holds_at_most_its_weighted_share_of_the_slots() {
    let fair = FairLayer::builder(14, lots()).build().unwrap();
    let gate = Arc::new(Semaphore::new(0));
    let recorder = Recorder::default();
    let app = app(fair.clone(), recorder.clone(), Arc::clone(&gate));

    let flooder: Vec<_> = (0..5)
        .map(|_| tokio::spawn(app.clone().oneshot(request("flooder"))))
        .collect();
    until(|| fair.queued(&id("flooder")) == 4).await;
    assert_eq!(fair.in_flight(), 1);
    // pro's share is ⌈14 × 3/14⌉ = 3, enterprise's 10: both run at once, beside the free slots.
    let others: Vec<_> = ["pro", "pro", "pro", "ent", "ent"]
        .into_iter()
        .map(|name| tokio::spawn(app.clone().oneshot(request(name))))
        .collect();
    until(|| fair.in_flight() == 6).await;
    assert_eq!(fair.queued(&id("pro")), 0);
    assert_eq!(fair.queued(&id("ent")), 0);
    assert_eq!(fair.queued(&id("flooder")), 4);
    // A fourth pro request is over pro's share: it waits, in pro's queue.
    let fourth = tokio::spawn(app.clone().oneshot(request("pro")));
    until(|| fair.queued(&id("pro")) == 1).await;
    assert_eq!(fair.in_flight(), 6);

    gate.add_permits(1_000);
    for task in flooder.into_iter().chain(others).chain([fourth]) {
        assert_eq!(task.await.unwrap().unwrap().status(), 200);
    }
    assert_eq!(fair.in_flight(), 0);
    assert_eq!(recorder.served.lock().unwrap().len(), 11);
}

/// Requests of three tenants racing for `fair`'s slots on the runtime's threads, each handler
/// yielding while it runs: the most requests that ran at once, in all and per tenant.
async fn race(fair: FairLayer, requests: usize) -> (usize, HashMap<String, usize>) {
    race_through(fair, requests, false).await
}

/// [`race`], with `fair` given to `TenantLayer::fair` when `in_tenant_layer`.
async fn race_through(
    fair: FairLayer,
    requests: usize,
    in_tenant_layer: bool,
) -> (usize, HashMap<String, usize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(Default)]
    struct Running {
        all: AtomicUsize,
        most: AtomicUsize,
        tenants: Mutex<HashMap<String, (usize, usize)>>,
    }
    let running = Arc::new(Running::default());
    let resolver = TenantResolver::new(registry(), TenancyConfig::default())
        .anonymous()
        .shared();
    let counted = Arc::clone(&running);
    let routes = Router::new().route(
        "/work",
        get(move |ctx: Extension<TenantCtx>| {
            let running = Arc::clone(&counted);
            async move {
                let now = running.all.fetch_add(1, Ordering::SeqCst) + 1;
                running.most.fetch_max(now, Ordering::SeqCst);
                let tenant = ctx.tenant_id().to_string();
                {
                    let mut tenants = running.tenants.lock().unwrap();
                    let (now, most) = tenants.entry(tenant.clone()).or_default();
                    *now += 1;
                    *most = (*most).max(*now);
                }
                for _ in 0..3 {
                    tokio::task::yield_now().await;
                }
                running.tenants.lock().unwrap().get_mut(&tenant).unwrap().0 -= 1;
                running.all.fetch_sub(1, Ordering::SeqCst);
                "ok"
            }
        }),
    );
    let app = match in_tenant_layer {
        true => routes.layer(TenantLayer::new(resolver).fair(fair.clone())),
        false => routes.layer((TenantLayer::new(resolver), fair.clone())),
    };
    let tasks: Vec<_> = (0..requests)
        .map(|n| {
            let name = ["ent", "pro", "free"][n % 3];
            tokio::spawn(app.clone().oneshot(request(name)))
        })
        .collect();
    for task in tasks {
        let response = tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("a request was left waiting")
            .unwrap()
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    assert_eq!(fair.in_flight(), 0);
    let tenants = running.tenants.lock().unwrap();
    let per_tenant = tenants
        .iter()
        .map(|(t, (_, most))| (t.clone(), *most))
        .collect();
    (running.most.load(Ordering::SeqCst), per_tenant)
}

/// The slot count under real parallelism (4 threads, 8 slots, 600 requests of three tenants
/// racing): never more requests in the handler than slots, nor of one tenant than its share,
/// every request served (none left waiting beside a slot it may take), every slot back.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_limits_hold_across_threads_and_every_request_is_served() {
    // Without shares (a full weight of 1: every tenant may take every slot).
    let (most, _) = race(
        FairLayer::builder(8, lots())
            .full_weight(1.0)
            .build()
            .unwrap(),
        600,
    )
    .await;
    assert!((2..=8).contains(&most), "{most} requests ran at once");
    // With the default shares of 8 slots: enterprise 6, pro 2, free 1.
    let (most, tenants) = race(FairLayer::builder(8, lots()).build().unwrap(), 600).await;
    assert!(most <= 8, "{most} requests ran at once");
    for (tenant, share) in [("ent", 6), ("pro", 2), ("free", 1)] {
        let most = tenants[tenant];
        assert!((1..=share).contains(&most), "{tenant}: {most} at once");
    }
    // The same, admitted by `TenantLayer::fair`.
    let fair = FairLayer::builder(8, lots()).build().unwrap();
    let (most, tenants) = race_through(fair, 600, true).await;
    assert!(most <= 8, "{most} requests ran at once");
    for (tenant, share) in [("ent", 6), ("pro", 2), ("free", 1)] {
        let most = tenants[tenant];
        assert!((1..=share).contains(&most), "{tenant}: {most} at once");
    }
}

/// `TenantLayer::fair` enforces what `FairLayer` as a layer does: the free tenant's rate (its
/// burst of 3, then `429 rate-limited` with `Retry-After`, the others never refused), the one
/// slot (a second request waits in its tenant's queue until the first is done), the queue
/// bound (`429 tenant-queue-full`).
#[tokio::test(flavor = "current_thread")]
async fn tenant_layer_fair_enforces_the_same_limits() {
    let routes = |gate: Arc<Semaphore>| {
        Router::new().route(
            "/work",
            get(move || {
                let gate = Arc::clone(&gate);
                async move {
                    drop(gate.acquire().await.unwrap());
                    "ok"
                }
            }),
        )
    };
    let resolver = || {
        TenantResolver::new(registry(), TenancyConfig::default())
            .anonymous()
            .shared()
    };
    let fair = FairLayer::builder(8, lots())
        .plan(Plan::Free, Limits::new(1, 3, 8).unwrap())
        .build()
        .unwrap();
    let app =
        routes(Arc::new(Semaphore::new(1_000))).layer(TenantLayer::new(resolver()).fair(fair));
    let mut statuses: HashMap<&str, Vec<u16>> = HashMap::new();
    for _ in 0..10 {
        for name in ["flooder", "ent"] {
            let response = app.clone().oneshot(request(name)).await.unwrap();
            let status = response.status().as_u16();
            if status == 429 {
                assert!(response.headers().contains_key("retry-after"));
                assert_eq!(
                    problem_type(response).await,
                    "urn:tenant:problem:rate-limited"
                );
            }
            statuses.entry(name).or_default().push(status);
        }
    }
    let admitted = statuses["flooder"].iter().filter(|s| **s == 200).count();
    assert!((3..=4).contains(&admitted), "{:?}", statuses["flooder"]);
    assert!(statuses["ent"].iter().all(|s| *s == 200));

    let fair = FairLayer::builder(1, Limits::new(1_000_000, 1_000_000, 1).unwrap())
        .build()
        .unwrap();
    let gate = Arc::new(Semaphore::new(0));
    let app = routes(Arc::clone(&gate)).layer(TenantLayer::new(resolver()).fair(fair.clone()));
    let first = tokio::spawn(app.clone().oneshot(request("ent")));
    until(|| fair.in_flight() == 1).await;
    let second = tokio::spawn(app.clone().oneshot(request("ent")));
    until(|| fair.queued(&id("ent")) == 1).await;
    let refused = app.clone().oneshot(request("ent")).await.unwrap();
    assert_eq!(refused.status(), 429);
    assert_eq!(
        problem_type(refused).await,
        "urn:tenant:problem:tenant-queue-full"
    );
    assert_eq!(fair.in_flight(), 1);
    gate.add_permits(2);
    assert_eq!(first.await.unwrap().unwrap().status(), 200);
    assert_eq!(second.await.unwrap().unwrap().status(), 200);
    assert_eq!(fair.in_flight(), 0);
}

/// `registry()`'s tenants, one more ("mover") whose plan and own limits the test changes, and
/// `extra` free tenants `t0`, `t1`, ..
#[derive(Clone)]
struct Changing {
    inner: Arc<InMemoryRegistry>,
    mover: Arc<Mutex<Plan>>,
    mover_limits: Arc<Mutex<Option<Limits>>>,
}

impl Changing {
    fn new(extra: usize) -> Self {
        let tenants = registry().iter().cloned().collect::<Vec<_>>();
        let extra = (0..extra).map(|n| tenant(&format!("t{n}"), Plan::Free));
        Changing {
            inner: Arc::new(InMemoryRegistry::new(tenants.into_iter().chain(extra)).unwrap()),
            mover: Arc::new(Mutex::new(Plan::Free)),
            mover_limits: Arc::new(Mutex::new(None)),
        }
    }
}

impl TenantRegistry for Changing {
    type Error = std::convert::Infallible;
    async fn find_by_id(&self, id: &TenantId) -> Result<Option<Tenant>, Self::Error> {
        if id.as_str() == "mover" {
            let mut mover = tenant("mover", self.mover.lock().unwrap().clone());
            mover.limits = *self.mover_limits.lock().unwrap();
            return Ok(Some(mover));
        }
        self.inner.find_by_id(id).await
    }
    async fn find_by_slug(&self, slug: &TenantId) -> Result<Option<Tenant>, Self::Error> {
        self.find_by_id(slug).await
    }
}

/// `/work` as in [`app`] (the handler passes `gate` first) and `/quick` (no gate), behind
/// `fair`, over `registry`.
fn changing_app(fair: FairLayer, registry: Changing, gate: Arc<Semaphore>) -> Router {
    let resolver = TenantResolver::new(registry, TenancyConfig::default())
        .anonymous()
        .shared();
    Router::new()
        .route(
            "/work",
            get(move || {
                let gate = Arc::clone(&gate);
                async move {
                    drop(gate.acquire().await.unwrap());
                    "ok"
                }
            }),
        )
        .route("/quick", get(|| async { "ok" }))
        .layer((TenantLayer::new(resolver), fair))
}

fn quick(tenant: &str) -> http::Request<Body> {
    http::Request::get("/quick")
        .header("x-tenant-id", tenant)
        .body(Body::empty())
        .unwrap()
}

async fn status(app: &Router, request: http::Request<Body>) -> u16 {
    app.clone()
        .oneshot(request)
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// One request of each of `t0`..`t{n-1}`, with pauses of 40 ms every 100: the layer sweeps
/// its entries at 256 and 512 tenants, the second sweep at least 80 ms after the first (120
/// ms with `n` = 600).
async fn many_tenants(app: &Router, n: usize) {
    for k in 0..n {
        assert_eq!(status(app, quick(&format!("t{k}"))).await, 200);
        if k % 100 == 99 {
            tokio::time::sleep(Duration::from_millis(40)).await;
        }
    }
}

/// The thread's cached entry follows the tenant's plan: after the registry moves a tenant from
/// free (1 a second) to pro (unbounded here), its requests get pro's limits at once; moved
/// back, free's again, from a fresh limiter.
#[tokio::test(flavor = "current_thread")]
async fn a_tenants_new_plan_applies_at_once_though_its_entry_is_cached() {
    let fair = FairLayer::builder(8, lots())
        .plan(Plan::Free, Limits::new(1, 1, 8).unwrap())
        .build()
        .unwrap();
    let registry = Changing::new(0);
    let app = changing_app(fair, registry.clone(), Arc::new(Semaphore::new(0)));
    assert_eq!(status(&app, quick("mover")).await, 200);
    assert_eq!(status(&app, quick("mover")).await, 429);
    *registry.mover.lock().unwrap() = Plan::Pro;
    for _ in 0..20 {
        assert_eq!(status(&app, quick("mover")).await, 200);
    }
    *registry.mover.lock().unwrap() = Plan::Free;
    assert_eq!(status(&app, quick("mover")).await, 200);
    assert_eq!(status(&app, quick("mover")).await, 429);
}

/// Limits of a tenant's own in its registry record replace its plan's, and the layer's own
/// per-tenant configuration: the record's 1 a second refuses the mover's second request while
/// the layer would admit 20, its plan's peer is untouched, and each change of the record
/// applies at its next request though the thread caches the tenant's entry.
#[tokio::test(flavor = "current_thread")]
async fn a_tenants_own_limits_in_the_registry_replace_its_plans_and_apply_at_once() {
    let fair = FairLayer::builder(8, lots())
        .plan(Plan::Free, lots())
        .tenant(id("mover"), lots())
        .build()
        .unwrap();
    let registry = Changing::new(0);
    let app = changing_app(fair, registry.clone(), Arc::new(Semaphore::new(0)));
    for _ in 0..5 {
        assert_eq!(status(&app, quick("mover")).await, 200);
    }
    *registry.mover_limits.lock().unwrap() = Some(Limits::new(1, 1, 8).unwrap());
    assert_eq!(status(&app, quick("mover")).await, 200);
    let refused = app.clone().oneshot(quick("mover")).await.unwrap();
    assert_eq!(refused.status(), 429);
    assert_eq!(
        problem_type(refused).await,
        "urn:tenant:problem:rate-limited"
    );
    // Its plan's peer, cached on the same thread, keeps the plan's limits.
    for _ in 0..20 {
        assert_eq!(status(&app, quick("free")).await, 200);
    }
    // Back to the plan's: admitted again at once.
    *registry.mover_limits.lock().unwrap() = None;
    for _ in 0..20 {
        assert_eq!(status(&app, quick("mover")).await, 200);
    }
    // Raised above the plan's: a plan of 1 a second no longer binds the tenant.
    *registry.mover.lock().unwrap() = Plan::Other("tight".into());
    let tight = FairLayer::builder(8, Limits::new(1, 1, 8).unwrap())
        .build()
        .unwrap();
    let app = changing_app(tight, registry.clone(), Arc::new(Semaphore::new(0)));
    assert_eq!(status(&app, quick("mover")).await, 200);
    assert_eq!(status(&app, quick("mover")).await, 429);
    *registry.mover_limits.lock().unwrap() = Some(lots());
    for _ in 0..20 {
        assert_eq!(status(&app, quick("mover")).await, 200);
    }
}

/// Idle entries are pruned (600 tenants seen once: the layer keeps fewer), but never one in
/// use: the free tenant's one slot of 14 stays held through both sweeps, and its next request
/// still waits for it (a pruned and remade entry would have let it run beside the first).
#[tokio::test(flavor = "current_thread")]
async fn idle_entries_are_pruned_and_one_in_use_never_is() {
    // A refill time of 1 ms (burst 1,000 at a million a second): prunable soon after idle.
    let limits = Limits::new(1_000_000, 1_000, 8).unwrap();
    let fair = FairLayer::builder(14, limits).build().unwrap();
    let gate = Arc::new(Semaphore::new(0));
    let app = changing_app(fair.clone(), Changing::new(600), Arc::clone(&gate));
    let holder = tokio::spawn(app.clone().oneshot(request("free")));
    until(|| fair.in_flight() == 1).await;

    many_tenants(&app, 600).await;
    assert!(fair.tracked() < 400, "{} entries kept", fair.tracked());

    let second = tokio::spawn(app.clone().oneshot(quick("free")));
    until(|| fair.queued(&id("free")) == 1).await;
    assert_eq!(fair.in_flight(), 1);
    gate.add_permits(1);
    assert_eq!(holder.await.unwrap().unwrap().status(), 200);
    assert_eq!(second.await.unwrap().unwrap().status(), 200);
    assert_eq!(fair.in_flight(), 0);
}

/// A pruned tenant's limits hold when it comes back (its plan's burst again, then `429`), and
/// an entry is not pruned before its limiter has refilled: pro's rate of 1 a second, spent,
/// stays spent through the sweeps (a fresh limiter would admit its next request).
#[tokio::test(flavor = "current_thread")]
async fn a_pruned_tenants_limits_hold_when_it_comes_back() {
    let fair = FairLayer::builder(64, Limits::new(1_000_000, 1_000, 8).unwrap())
        // Refilled in 100 ms (one request per 50 ms: the test's three in a row stay within
        // one): prunable at the second sweep.
        .plan(Plan::Enterprise, Limits::new(20, 2, 8).unwrap())
        // Refilled in 1 s: not prunable in this test.
        .plan(Plan::Pro, Limits::new(1, 1, 8).unwrap())
        .build()
        .unwrap();
    let app = changing_app(
        fair.clone(),
        Changing::new(600),
        Arc::new(Semaphore::new(0)),
    );
    let burst = async |tenant: &str| {
        let mut statuses = Vec::new();
        for _ in 0..3 {
            statuses.push(status(&app, quick(tenant)).await);
        }
        statuses
    };
    assert_eq!(burst("ent").await, [200, 200, 429]);
    assert_eq!(burst("pro").await, [200, 429, 429]);

    many_tenants(&app, 600).await;
    assert!(fair.tracked() < 400, "{} entries kept", fair.tracked());

    assert_eq!(burst("ent").await, [200, 200, 429]);
    assert_eq!(burst("pro").await, [429, 429, 429]);
}
