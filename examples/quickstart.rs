//! The main job: one in-memory SQLite database, two tenants, one tenant-scoped table.
//!
//! Run it with `cargo run --example quickstart`.

use tenant::sqlx::PageRequest;
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

    println!("\n6. A bulk write: acme imports 45 invoices in one call:");
    let imported = invoices
        .insert_many(
            &acme,
            (100..145).map(|id| NewInvoice {
                id,
                number: format!("IMP-{id:04}"),
                customer: if id % 3 == 0 { "bugs" } else { "daffy" }.into(),
                amount_cents: (id * 37) % 1000,
            }),
        )
        .await?;
    println!(
        "  inserted {imported}; acme now has {}, globex still {}",
        invoices.count(&acme).await?,
        invoices.count(&globex).await?
    );

    println!("\n7. Pages: acme's invoices by amount, largest first, 20 per page:");
    let by_amount = c.amount_cents.desc(); // the key breaks ties, so every page is stable
    let mut after = None;
    for page_number in 1.. {
        let request = PageRequest::new(by_amount.clone(), 20).after(after);
        let page = invoices.page(&acme, request).await?;
        let amounts: Vec<String> = page.items.iter().map(|i| money(i.amount_cents)).collect();
        println!(
            "  page {page_number}: {} rows, {} .. {}",
            page.items.len(),
            amounts.first().map_or("-", String::as_str),
            amounts.last().map_or("-", String::as_str)
        );
        // The cursor is opaque text a client sends back; it is signed for acme and this order.
        let Some(next) = page.next else { break };
        if page_number == 1 {
            let stolen = PageRequest::new(by_amount.clone(), 20).after(Some(next.clone()));
            match invoices.page(&globex, stolen).await {
                Ok(_) => println!("  globex replayed acme's cursor: accepted (a bug!)"),
                Err(error) => println!("  globex replays acme's cursor -> {error}"),
            }
        }
        after = Some(next);
    }

    println!("\n8. An upsert: insert or, on the same (tenant, key), apply the patch:");
    let renamed = InvoicePatch {
        customer: Some("road-runner inc".into()),
        ..Default::default()
    };
    for id in [1, 999] {
        let new = NewInvoice {
            id,
            number: format!("UPS-{id:04}"),
            customer: "new customer".into(),
            amount_cents: 1,
        };
        let stored = invoices.upsert(&acme, new, renamed.clone()).await?;
        println!(
            "  upsert #{id} -> {} {} ({})",
            stored.number,
            stored.customer,
            if id == 1 {
                "existed: patched"
            } else {
                "absent: inserted"
            }
        );
    }
    println!(
        "  globex's #1 is untouched: {:?}",
        invoices.get(&globex, 1).await?.map(|i| i.customer)
    );

    println!("\n9. Bulk update and delete by filter, still one tenant's rows only:");
    let small = c.amount_cents.lt(100);
    let patch = InvoicePatch {
        customer: Some("small accounts".into()),
        ..Default::default()
    };
    println!(
        "  update_where amount < $1.00 -> {} row(s)",
        invoices.update_where(&acme, small.clone(), patch).await?
    );
    println!(
        "  delete_where amount < $1.00 -> {} row(s); globex's $0.75 invoice is still there: {}",
        invoices.delete_where(&acme, small).await?,
        invoices.exists(&globex, c.amount_cents.eq(75)).await?
    );

    println!("\n10. Bad tenant ids are typed errors, never a default tenant:");
    for input in ["ACME", "acme'; DROP TABLE invoices; --", ""] {
        match input.parse::<TenantId>() {
            Ok(id) => println!("  {input:?} -> accepted {id}"),
            Err(error) => println!("  {input:?} -> rejected: {error}"),
        }
    }

    println!("\n11. A cleanup job reads across tenants only through an audited SystemCtx:");
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
