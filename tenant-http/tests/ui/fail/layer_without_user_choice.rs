// `TenantLayer` takes a shared, finished resolver: one without the user choice (`.users(hook)` or
// `.anonymous()`) does not convert into one.
use tenant::http::{TenantLayer, TenantResolver};
use tenant::{InMemoryRegistry, TenancyConfig};

fn main() {
    let registry = InMemoryRegistry::new([]).unwrap();
    let resolver = TenantResolver::new(registry, TenancyConfig::default());
    let _layer = TenantLayer::new(resolver.into());
}
