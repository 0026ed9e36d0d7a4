// Tenant and system activities, their inputs round-tripping through JSON.
#![deny(warnings)]

use tenant::{activity, Plan, SystemCtx, TenantCtx};

#[derive(serde::Serialize, serde::Deserialize)]
pub struct MigrationPlan {
    pub version: u32,
}

#[activity]
pub async fn run_tenant_migrations(ctx: TenantCtx, plan: MigrationPlan) -> Result<String, String> {
    Ok(format!("{} v{}", ctx.tenant_id(), plan.version))
}

#[activity]
async fn get_tenant_info(ctx: tenant::TenantCtx) -> String {
    ctx.tenant_id().to_string()
}

#[activity(system = "system-wide cleanup of soft-deleted tenants")]
pub async fn system_cleanup(sys: SystemCtx, older_than_days: u32) -> Result<String, String> {
    Ok(format!("{}: {older_than_days}", sys.reason()))
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let ctx = TenantCtx::trusted("acme".parse().unwrap(), "tenant_acme".parse().unwrap(), Plan::Pro);
    let input = RunTenantMigrationsInput { ctx: ctx.clone(), plan: MigrationPlan { version: 3 } };
    let json = serde_json::to_string(&input).unwrap();
    let input: RunTenantMigrationsInput = serde_json::from_str(&json).unwrap();
    assert_eq!(rt.block_on(input.run()).unwrap(), "acme v3");
    assert_eq!(rt.block_on(GetTenantInfoInput { ctx }.run()), "acme");
    let cleanup: SystemCleanupInput = serde_json::from_str(r#"{"older_than_days":30}"#).unwrap();
    assert_eq!(SystemCleanupInput::REASON, "system-wide cleanup of soft-deleted tenants");
    assert!(rt.block_on(cleanup.run()).unwrap().starts_with("system-wide cleanup"));
}
