// "No authentication" is chosen with `.anonymous()`, the one greppable spelling: the hook behind
// it cannot be built by hand and passed to `.users(..)`.
use tenant::http::{Anonymous, TenantResolver};
use tenant::{InMemoryRegistry, TenancyConfig};

fn main() {
    let registry = InMemoryRegistry::new([]).unwrap();
    let _resolver = TenantResolver::new(registry, TenancyConfig::default())
        .users(Anonymous(()));
}
