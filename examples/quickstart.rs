//! The main job: one in-memory SQLite database, two tenants, one tenant-scoped table.
//!
//! Run it with `cargo run --example quickstart`.

use tenant::{Plan, SystemCtx, TenantCtx, TenantId, tenant_scoped};

/// An invoice, owned by exactly one tenant.
#[tenant_scoped(table = "invoices")]
#[derive(Debug, Clone)]
pub struct Invoice {
    /// Identifies the invoice within its tenant: two tenants may both have invoice 1.
    #[key]
    pub id: i64,
    /// The owner, set from the context on insert and never by the caller.
    #[tenant]
    pub tenant_id: TenantId,
    /// Human-facing number, unique within a tenant.
    #[unique]
    pub number: String,
    /// Who is billed; indexed as `(tenant_id, customer)`.
    #[index]
    pub customer: String,
    /// The amount, in cents.
    pub amount_cents: i64,
}

fn money(cents: i64) -> String {
    format!("${}.{:02}", cents / 100, cents % 100)
}

fn show(who: &TenantCtx, invoices: &[Invoice]) {
    println!("  {} sees {} invoice(s):", who.tenant_id(), invoices.len());
    for invoice in invoices {
        println!(
            "    #{} {:<9} {:<12} {:>9}   (tenant_id = {})",
            invoice.id,
            invoice.number,
            invoice.customer,
            money(invoice.amount_cents),
            invoice.tenant_id
        );
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Audit events (target "tenant::audit") go to stdout, so the system context is visible.
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_writer(std::io::stdout)
        .without_time()
        .with_ansi(false)
        .init();

    println!("tenant quickstart: one SQLite database, two tenants, one table\n");

    // In a service the resolver builds these from the request; here we are that trusted code.
    let acme = TenantCtx::trusted("acme".parse()?, "tenant_acme".parse()?, Plan::Pro);
    let globex = TenantCtx::trusted("globex".parse()?, "tenant_globex".parse()?, Plan::Free);

    let pool = sqlx::SqlitePool::connect("sqlite::memory:").await?;
    let mut invoices = InvoiceRepo::new(&pool);

    println!("1. Schema (the tenant column leads the primary key and every index):");
    for statement in invoices.ddl() {
        println!("  {statement}");
    }
    invoices.create_table().await?;

    println!("\n2. Both tenants insert invoices with the SAME ids and numbers:");
    for (id, customer, cents) in [
        (1, "road-runner", 1200),
        (2, "road-runner", 9900),
        (3, "bugs", 450),
    ] {
        let number = format!("INV-{id:04}");
        invoices
            .insert(
                &acme,
                NewInvoice {
                    id,
                    number,
                    customer: customer.into(),
                    amount_cents: cents,
                },
            )
            .await?;
    }
    for (id, customer, cents) in [(1, "coyote", 150_000), (2, "coyote", 75)] {
        let number = format!("INV-{id:04}");
        invoices
            .insert(
                &globex,
                NewInvoice {
                    id,
                    number,
                    customer: customer.into(),
                    amount_cents: cents,
                },
            )
            .await?;
    }
    println!(
        "  acme inserted 3, globex inserted 2 (NewInvoice has no tenant_id field to get wrong)"
    );

    println!("\n3. Each tenant sees only its own rows:");
    show(&acme, &invoices.list(&acme).await?);
    show(&globex, &invoices.list(&globex).await?);
    println!(
        "  count: acme = {}, globex = {}",
        invoices.count(&acme).await?,
        invoices.count(&globex).await?
    );

    println!("\n4. globex aims at acme's invoice #3:");
    println!(
        "  get    -> {:?}",
        invoices.get(&globex, 3).await?.map(|i| i.number)
    );
    let patch = InvoicePatch {
        amount_cents: Some(0),
        ..Default::default()
    };
    println!(
        "  update -> {} row(s) changed",
        invoices.update(&globex, 3, patch).await?
    );
    println!(
        "  delete -> {} row(s) deleted",
        invoices.delete(&globex, 3).await?
    );
    let still_there = invoices.get(&acme, 3).await?.map(|i| money(i.amount_cents));
    println!("  acme's #3 is untouched: {still_there:?}");

    println!("\n5. A typed filter, still scoped to the caller's tenant:");
    let c = Invoice::columns();
    let big = invoices
        .list_where(
            &acme,
            c.amount_cents.ge(1000).and(c.customer.eq("road-runner")),
        )
        .await?;
    show(&acme, &big);

    println!("\n6. Bad tenant ids are typed errors, never a default tenant:");
    for input in ["ACME", "acme'; DROP TABLE invoices; --", ""] {
        match input.parse::<TenantId>() {
            Ok(id) => println!("  {input:?} -> accepted {id}"),
            Err(error) => println!("  {input:?} -> rejected: {error}"),
        }
    }

    println!("\n7. A cleanup job reads across tenants only through an audited SystemCtx:");
    let sys = SystemCtx::new("quickstart: nightly invoice report")?;
    let total = invoices.system_count(&sys).await?;
    let owners = invoices.system_tenant_ids(&sys).await?;
    let owners: Vec<&str> = owners.iter().map(TenantId::as_str).collect();
    println!(
        "  all tenants together own {total} invoices; owners: {}",
        owners.join(", ")
    );
    Ok(())
}
