#![doc = include_str!("../README.md")]
#![warn(missing_docs, unreachable_pub)]

pub use tenant_core::*;

/// Makes a struct a row of a tenant-owned table and generates its tenant-scoped repository.
///
/// ```
/// use tenant::{tenant_scoped, TenantId};
///
/// #[tenant_scoped(table = "invoices")]
/// #[derive(Debug, Clone, PartialEq)]
/// pub struct Invoice {
///     #[key]
///     pub id: i64,
///     #[tenant]
///     pub tenant_id: TenantId,
///     #[unique]
///     pub number: String,
///     #[index]
///     pub customer: String,
///     pub amount_cents: i64,
///     pub memo: Option<String>,
/// }
///
/// // Generated next to it:
/// let new = NewInvoice {
///     id: 1,
///     number: "A-1".into(),
///     customer: "acme".into(),
///     amount_cents: 100,
///     memo: None,
/// };
/// let patch = InvoicePatch { memo: Some(None), ..Default::default() };
/// let filter = Invoice::columns().amount_cents.gt(50);
/// fn repo(pool: &sqlx::SqlitePool) -> InvoiceRepo<&sqlx::SqlitePool> {
///     InvoiceRepo::new(pool)
/// }
/// # let _ = (new, patch, filter, repo);
/// ```
///
/// # Arguments
///
/// - `table = "name"` (required): the table, a plain SQL identifier.
///
/// # Field attributes
///
/// | attribute | meaning |
/// |---|---|
/// | `#[tenant]` | exactly one field, of type [`TenantId`]: the owning tenant. Set from the [`TenantCtx`] on insert, never by the caller; the first column of the primary key and of every index. |
/// | `#[key]` | exactly one field, not an `Option`: identifies a row within its tenant. Primary key `(tenant, key)`. |
/// | `#[unique]` | the column is unique per tenant: two tenants may hold the same value. |
/// | `#[index]` | an index on `(tenant, column)`. |
///
/// Other attributes (`#[doc]`, `#[serde(..)]`, lints) pass through; one that looks like a typo
/// of ours (`#[tenent]`, `#[Key]`, `#[tenant_id]`) is an error rather than silently ignored.
///
/// # Generated items
///
/// For `struct Invoice`, with the struct's visibility:
/// - `NewInvoice`: every field but the tenant's. Argument of `insert`.
/// - `InvoicePatch`: `Option<T>` of every field but key and tenant, `Default`. Argument of
///   `update`; `None` leaves a column alone.
/// - `InvoiceColumns` and `Invoice::columns()`: a typed [`Col`] per non-tenant column, for
///   [`Repo::list_where`] filters.
/// - `InvoiceRepo<X>`: an alias of [`Repo<Invoice, X>`](Repo), the repository over a pool,
///   connection or transaction `X`.
/// - impls of [`Entity`] and of the hidden traits the repository runs through.
///
/// The std and serde derives of the entity that also hold for a subset of its fields (`Debug`,
/// `Clone`, `Copy`, `PartialEq`, `Eq`, `Hash`, `PartialOrd`, `Ord`, `Serialize`,
/// `Deserialize`) are repeated on `NewInvoice` and `InvoicePatch` when written below
/// `#[tenant_scoped]`.
pub use tenant_macros::tenant_scoped;

/// Makes an async fn an activity that cannot run without its tenant.
///
/// ```
/// use tenant::{activity, Plan, TenantCtx};
///
/// #[derive(serde::Serialize, serde::Deserialize)]
/// pub struct MigrationPlan { pub version: u32 }
///
/// #[activity]
/// pub async fn run_tenant_migrations(ctx: TenantCtx, plan: MigrationPlan) -> Result<String, String> {
///     Ok(format!("{} migrated to v{}", ctx.tenant_id(), plan.version))
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // The payload that crosses the workflow engine carries the context, typed:
/// let ctx = TenantCtx::trusted("acme".parse()?, "tenant_acme".parse()?, Plan::Pro);
/// let input = RunTenantMigrationsInput { ctx, plan: MigrationPlan { version: 7 } };
/// let json = serde_json::to_string(&input)?;
/// let received: RunTenantMigrationsInput = serde_json::from_str(&json)?;
/// assert_eq!(received.run().await?, "acme migrated to v7");
///
/// // A payload with a tampered or missing context never becomes an input.
/// let tampered = json.replace("\"acme\"", "\"ACME\"");
/// assert!(serde_json::from_str::<RunTenantMigrationsInput>(&tampered).is_err());
/// assert!(serde_json::from_str::<RunTenantMigrationsInput>(r#"{"plan":{"version":7}}"#).is_err());
/// # Ok(())
/// # }
/// ```
///
/// An activity without a `TenantCtx` first parameter does not compile, unless it is marked
/// `#[activity(system = "reason")]` and takes a [`SystemCtx`] instead, which the worker builds,
/// audited, with that reason. To register activities with the Temporal Rust SDK, write them as
/// methods of a [`#[tenant::activities]`](macro@activities) block.
pub use tenant_macros::activity;

/// Makes the `#[activity]` methods of an impl block activities of the Temporal Rust SDK that
/// cannot run without their tenant (feature `temporal`).
///
/// It wraps the SDK's own `#[activities]`: each method takes the SDK's `ActivityContext`, then
/// `ctx: TenantCtx` (or, with `#[activity(system = "reason")]`, a [`SystemCtx`] the worker
/// builds), then its parameters. `<Method>Input { ctx, .. }` is generated; it is what workflows
/// pass to `execute_activity`, and what crosses the engine. Before the body runs, the worker
/// decodes it and checks that the task's fairness key, when set, is the context's tenant. A
/// payload with a missing, malformed or tampered context fails the activity with a
/// **non-retryable** failure of type [`temporal::INPUT_REJECTED`]; it never runs under a default
/// or system context. `#[activity(name = "..")]` is handed to the SDK.
///
/// The SDK's macros expand to `::temporalio_sdk`, `::temporalio_common` and `::futures`, so a
/// crate that uses this has those as direct dependencies.
///
/// ```
/// use std::sync::Arc;
/// use temporalio_sdk::activities::{ActivityContext, ActivityError};
/// use tenant::{Plan, SystemCtx, TenantCtx};
///
/// pub struct Provisioning;
///
/// #[tenant::activities]
/// impl Provisioning {
///     #[activity]
///     pub async fn run_migrations(
///         self: Arc<Self>,
///         _actx: ActivityContext,
///         ctx: TenantCtx,
///         version: u32,
///     ) -> Result<String, ActivityError> {
///         Ok(format!("{} at v{version}", ctx.schema_name()))
///     }
///
///     #[activity(system = "nightly cleanup of soft-deleted tenants")]
///     pub async fn cleanup(
///         _actx: ActivityContext,
///         sys: SystemCtx,
///         older_than_days: u32,
///     ) -> Result<String, ActivityError> {
///         Ok(format!("{}: {older_than_days} days", sys.reason()))
///     }
/// }
///
/// // Registered with a worker the SDK's way:
/// let options = temporalio_sdk::WorkerOptions::new("provisioning")
///     .register_activities(Provisioning)
///     .build();
/// # let _ = options;
///
/// // What a workflow passes, and what crosses the engine:
/// let ctx = TenantCtx::trusted("acme".parse()?, "tenant_acme".parse()?, Plan::Pro);
/// let input = RunMigrationsInput { ctx, version: 7 };
/// let json = serde_json::to_string(&input)?;
/// let received: tenant::temporal::ActivityInput<RunMigrationsInput> = serde_json::from_str(&json)?;
/// assert!(received.rejection().is_none());
///
/// // A tampered context arrives as a rejection the worker fails without retrying.
/// let tampered = json.replace("\"acme\"", "\"acme/../beta\"");
/// let received: tenant::temporal::ActivityInput<RunMigrationsInput> = serde_json::from_str(&tampered)?;
/// assert!(received.rejection().is_some());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[cfg(feature = "temporal")]
pub use tenant_macros::activities;
