// `TenantEvent` cannot be built from a struct literal: its fields are private, so an event names only the tenant of the context that made it.
use tenant::redis::TenantEvent;
use tenant::TenantId;

fn main() {
    let tenant_id: TenantId = "acme-corp".parse().unwrap();
    let _event = TenantEvent {
        tenant_id,
        event_id: Default::default(),
        occurred_at: 0,
        payload: "invoice paid",
    };
}
