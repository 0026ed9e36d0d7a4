// A resolver without the user choice (`.users(hook)` or `.anonymous()`) cannot be shared with
// axum, so no router extracts a `TenantCtx` through it.
use tenant::http::TenantResolver;
use tenant::{InMemoryRegistry, TenancyConfig};

fn main() {
    let registry = InMemoryRegistry::new([]).unwrap();
    let _shared = TenantResolver::new(registry, TenancyConfig::default())
        .shared();
}
