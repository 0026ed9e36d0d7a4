//! The workflows: provisioning and offboarding a tenant, each activity on the tenant's route.

// The Temporal SDK's `#[activities]` (which `#[tenant::activities]` wraps) and
// `#[workflow_methods]` add public associated constants without docs, in impls of their own.
#![allow(missing_docs)]

use serde::{Deserialize, Serialize};
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{WorkflowContext, WorkflowResult};
use tenant::temporal::{RouteExt, WorkflowInput};
use tenant::{SignedClaim, SystemToken};

use crate::*;

/// The provisioning workflow's input: the tenant, as a claim its starter signed and each
/// activity's worker verifies, and its first user.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvisionRequest {
    /// The tenant.
    pub ctx: SignedClaim,
    /// Its first user, who becomes its owner.
    pub owner: String,
}

/// What provisioning did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProvisionReport {
    /// The registry's record of the tenant.
    pub info: TenantInfo,
    /// The version its schema was migrated to.
    pub schema_version: u32,
    /// Its provisioning state at the end.
    pub state: String,
}

/// Provisions a tenant: its schema, tables and migration, its owner, its state.
#[workflow]
#[derive(Default)]
pub struct ProvisionTenant;

#[workflow_methods]
impl ProvisionTenant {
    /// Runs each step as an activity on the tenant's route, in the workflow's fleet.
    #[run]
    pub async fn run(
        wf: &mut WorkflowContext<Self>,
        request: WorkflowInput<ProvisionRequest>,
    ) -> WorkflowResult<ProvisionReport> {
        // A payload that does not decode ends the workflow with a typed, non-retryable failure
        // instead of a workflow task the server retries for ever.
        let ProvisionRequest { ctx, owner } = request.open()?;
        // Routing is a pure function of the context and the workflow's own task queue, so
        // replay computes the same options.
        let options = Fleet::of_workflow(wf)?
            .activity_route(&ctx)
            .activity_options(ACTIVITY_TIMEOUT);
        let mut migration_options = options.clone();
        migration_options.heartbeat_timeout = Some(MIGRATION_HEARTBEAT_TIMEOUT);
        let info = wf
            .execute_activity(
                Provisioning::get_tenant_info,
                GetTenantInfoInput { ctx: ctx.clone() },
                options.clone(),
            )
            .await?;
        let schema_version = wf
            .execute_activity(
                Provisioning::run_tenant_migrations,
                RunTenantMigrationsInput {
                    ctx: ctx.clone(),
                    target_version: SCHEMA_VERSION,
                },
                migration_options,
            )
            .await?;
        wf.execute_activity(
            Provisioning::create_membership,
            CreateMembershipInput {
                ctx: ctx.clone(),
                user_id: owner,
                role: "owner".into(),
            },
            options.clone(),
        )
        .await?;
        let state = wf
            .execute_activity(
                Provisioning::update_tenant_status,
                UpdateTenantStatusInput {
                    ctx,
                    state: "active".into(),
                },
                options,
            )
            .await?;
        Ok(ProvisionReport {
            info,
            schema_version,
            state,
        })
    }
}

/// What offboarding did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OffboardReport {
    /// Whether the tenant was active until now.
    pub deactivated: bool,
    /// Deactivated tenants whose schema still exists, seen by the system cleanup before the
    /// tenant's schema went.
    pub stale_before_drop: Vec<String>,
    /// The schema dropped.
    pub dropped_schema: String,
}

/// The offboarding workflow's input: the tenant's signed claim, and the system tokens its
/// starter signed for the two system activities (see [`Provisioning::offboard_request`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OffboardRequest {
    /// The tenant.
    pub ctx: SignedClaim,
    /// For [`Provisioning::system_cleanup`] ([`CLEANUP_REASON`]).
    pub cleanup: SystemToken,
    /// For [`Provisioning::drop_tenant_schema`] ([`DROP_SCHEMA_REASON`]).
    pub drop_schema: SystemToken,
}

/// Offboards a tenant: deactivates it, then drops its schema as system work.
#[workflow]
#[derive(Default)]
pub struct OffboardTenant;

#[workflow_methods]
impl OffboardTenant {
    /// Deactivates on the tenant's route; the schema goes on the fleet's system queue.
    #[run]
    pub async fn run(
        wf: &mut WorkflowContext<Self>,
        request: WorkflowInput<OffboardRequest>,
    ) -> WorkflowResult<OffboardReport> {
        let OffboardRequest {
            ctx,
            cleanup,
            drop_schema,
        } = request.open()?;
        let fleet = Fleet::of_workflow(wf)?;
        let options = fleet
            .activity_route(&ctx)
            .activity_options(ACTIVITY_TIMEOUT);
        let deactivated = wf
            .execute_activity(
                Provisioning::soft_delete_tenant,
                SoftDeleteTenantInput { ctx: ctx.clone() },
                options.clone(),
            )
            .await?;
        let system_options =
            tenant::temporal::system_activity_options(fleet.system_queue(), ACTIVITY_TIMEOUT);
        let stale_before_drop = wf
            .execute_activity(
                Provisioning::system_cleanup,
                SystemCleanupInput { sys: cleanup },
                system_options.clone(),
            )
            .await?;
        let dropped_schema = wf
            .execute_activity(
                Provisioning::drop_tenant_schema,
                DropTenantSchemaInput {
                    sys: drop_schema,
                    tenant_id: ctx.tenant_id().clone(),
                },
                system_options,
            )
            .await?;
        Ok(OffboardReport {
            deactivated,
            stale_before_drop,
            dropped_schema,
        })
    }
}
