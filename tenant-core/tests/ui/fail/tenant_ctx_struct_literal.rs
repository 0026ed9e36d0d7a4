// `TenantCtx` cannot be built from a struct literal: its fields are private so no code conjures a context for an arbitrary tenant.
use tenant::{Plan, TenantCtx, TenantId};

fn main() {
    let tenant_id: TenantId = "acme".parse().unwrap();
    let _ctx = TenantCtx {
        tenant_id,
        schema_name: "tenant_acme".parse().unwrap(),
        plan: Plan::Free,
        user_id: None,
        roles: Vec::new(),
        placement: Default::default(),
        limits: None,
    };
}
