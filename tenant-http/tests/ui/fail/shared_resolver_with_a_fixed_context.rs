// A `SharedResolver` answers each request with a context verified for that request (a
// `Resolved`, which only `TenantClaim::verify_request` makes): a resolver of one's own that
// answers every request with a context it holds (a fixed, cloned or cached one), skipping the
// registry and the user hook, does not compile.
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum_core::response::Response;
use http::request::Parts;
use tenant::request::Resolved;
use tenant::TenantCtx;
use tenant_core::axum::{Callers, ResolveParts, SharedResolver};

struct Fixed(TenantCtx);

impl ResolveParts for Fixed {
    fn resolve_parts<'a>(
        &'a self,
        _: &'a Parts,
        _: Callers,
    ) -> Pin<Box<dyn Future<Output = Result<Resolved, Response>> + Send + 'a>> {
        Box::pin(async move { Ok(self.0.clone()) })
    }
}

fn share(ctx: TenantCtx) -> SharedResolver {
    SharedResolver::from_resolver(Arc::new(Fixed(ctx)))
}

fn main() {
    let _ = share;
}
