// `TenantEvent::new` takes the tenant's `&TenantCtx`: a bare `TenantId` does not attribute an event.
use tenant::redis::TenantEvent;
use tenant::TenantId;

fn main() {
    let tenant: TenantId = "acme-corp".parse().unwrap();
    let _event = TenantEvent::new(&tenant, "invoice paid");
}
