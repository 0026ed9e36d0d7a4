//! Prints what `check` makes of a statement: `cargo run -p tenant-sqlcheck --example try -- ARGS SQL [SHARED..]`.
fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(0);
    let sql = args.next().unwrap_or_default();
    let shared: Vec<String> = args.collect();
    match tenant_sqlcheck::check(
        &sql,
        &tenant_sqlcheck::Options {
            args: n,
            shared: &shared,
        },
    ) {
        Ok(checked) => {
            let text: String = checked
                .pieces
                .iter()
                .map(|p| match p {
                    tenant_sqlcheck::Piece::Sql(s) => s.clone(),
                    tenant_sqlcheck::Piece::Table(i) => format!("\"table{i}\""),
                    tenant_sqlcheck::Piece::TenantColumn(i) => format!("\"tenant{i}\""),
                })
                .collect();
            println!("{text}");
            println!(
                "columns: {:?}",
                checked
                    .columns
                    .iter()
                    .map(|c| (&c.name, &sql[c.span.clone()]))
                    .collect::<Vec<_>>()
            );
        }
        Err(errors) => {
            for e in errors {
                println!(
                    "error: {} [{}]\n  help: {}",
                    e.message,
                    &sql[e.span.clone()],
                    e.help
                );
            }
        }
    }
}
