// A resolver whose application chose neither a user hook (`.users(hook)`) nor `.anonymous()`
// resolves nothing: no request is resolved by a resolver that silently authenticates nobody.
use tenant::http::TenantResolver;
use tenant::{InMemoryRegistry, TenancyConfig};

fn main() {
    let registry = InMemoryRegistry::new([]).unwrap();
    let resolver = TenantResolver::new(registry, TenancyConfig::default())
        .base_domain("example.com");
    let parts = http::Request::get("/t/acme/").body(()).unwrap().into_parts().0;
    let _ = resolver.resolve(&parts);
}
