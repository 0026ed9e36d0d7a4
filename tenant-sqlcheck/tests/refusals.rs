//! Each refusal of issue 22 item 4, and the tricks against it: the statement is refused with a
//! message that points at the offending bytes and a help line.

mod support;

use support::refused;

/// The error that points at `fragment` (the bytes of its span are exactly `fragment`).
fn refused_at(sql: &str, args: usize, shared: &[&str], fragment: &str) -> tenant_sqlcheck::Error {
    let errors = refused(sql, args, shared);
    let e = errors
        .iter()
        .find(|e| &sql[e.span.clone()] == fragment)
        .unwrap_or_else(|| panic!("no error at `{fragment}` in {sql}: {errors:#?}"));
    e.clone()
}

const NAME_IT: &str =
    "name the entity: `{Invoice}`, or declare the table shared: `shared(countries)`";

#[test]
fn a_tenant_table_by_plain_name() {
    let e = refused_at("SELECT * FROM invoices", 0, &[], "invoices");
    assert_eq!(e.help, NAME_IT);
    assert!(
        e.message.contains("`invoices` is not a tenant entity"),
        "{e}"
    );
    refused_at(
        "SELECT * FROM {Customer} c JOIN invoices i ON i.c = c.id",
        0,
        &[],
        "invoices",
    );
}

#[test]
fn quoted_and_case_changed_names() {
    refused_at("SELECT * FROM \"INVOICES\"", 0, &[], "\"INVOICES\"");
    // A quoted name is the exact table on PostgreSQL: not the shared one of another case.
    refused_at(
        "SELECT * FROM \"Countries\"",
        0,
        &["countries"],
        "\"Countries\"",
    );
}

#[test]
fn schema_qualified_names() {
    let e = refused_at("SELECT * FROM public.invoices", 0, &[], "public.invoices");
    assert_eq!(e.help, NAME_IT);
    refused_at(
        "SELECT * FROM pg_catalog.pg_class",
        0,
        &[],
        "pg_catalog.pg_class",
    );
    refused_at(
        "SELECT * FROM public.countries",
        0,
        &["countries"],
        "public.countries",
    );
}

#[test]
fn views_and_catalog_tables_are_plain_names() {
    refused_at(
        "SELECT * FROM invoice_totals_view",
        0,
        &[],
        "invoice_totals_view",
    );
    refused_at("SELECT * FROM pg_stat_activity", 0, &[], "pg_stat_activity");
    refused_at("SELECT * FROM sqlite_master", 0, &[], "sqlite_master");
}

#[test]
fn table_functions() {
    refused_at(
        "SELECT * FROM generate_series(1, 3)",
        0,
        &[],
        "generate_series",
    );
    refused_at("SELECT * FROM json_each($1)", 1, &[], "json_each");
    refused_at(
        "SELECT * FROM {Invoice} i, LATERAL read_invoices(i.id)",
        0,
        &[],
        "read_invoices",
    );
}

#[test]
fn shared_tables_are_read_only() {
    refused_at(
        "UPDATE countries SET name = $1",
        1,
        &["countries"],
        "countries",
    );
    refused_at("DELETE FROM countries", 0, &["countries"], "countries");
    refused_at(
        "INSERT INTO countries (code) VALUES ($1)",
        1,
        &["countries"],
        "countries",
    );
}

#[test]
fn question_mark_and_numbered_placeholders_out_of_range() {
    let e = refused_at("SELECT * FROM {Invoice} i WHERE i.id = ?", 0, &[], "?");
    assert!(e.help.contains("$1"), "{e}");
    refused_at("SELECT * FROM {Invoice} i WHERE i.id = $2", 1, &[], "$2");
    refused_at("SELECT * FROM {Invoice} i WHERE i.id = :id", 0, &[], ":id");
    // The tenant is `$N+1`: a user cannot name it.
    let e = refused_at("SELECT * FROM {Invoice} i WHERE i.owner = $1", 0, &[], "$1");
    assert!(e.message.contains("no argument"), "{e}");
}

#[test]
fn an_argument_never_used() {
    let errors = refused("SELECT * FROM {Invoice} i WHERE i.id = $2", 2, &[]);
    assert!(
        errors
            .iter()
            .any(|e| e.message.contains("$1") && e.message.contains("never used")),
        "{errors:#?}"
    );
}

#[test]
fn more_than_one_statement() {
    refused("SELECT * FROM {Invoice}; DELETE FROM {Invoice}", 0, &[]);
    refused("SELECT 1 FROM {Invoice} /* ; */; SELECT 2", 0, &[]);
    // A comment cannot hide the second statement from the check.
    refused(
        "SELECT * FROM {Invoice} -- comment\n; DROP TABLE invoices",
        0,
        &[],
    );
    refused("", 0, &[]);
    refused("  ;  ", 0, &[]);
}

#[test]
fn statements_other_than_select_insert_update_delete() {
    for sql in [
        "CREATE TABLE t (id int)",
        "DROP TABLE invoices",
        "ALTER TABLE invoices DISABLE ROW LEVEL SECURITY",
        "TRUNCATE invoices",
        "SET app.tenant_id = 'globex'",
        "SET ROLE tenant_bypass",
        "RESET ALL",
        "COPY invoices TO STDOUT",
        "CALL refresh_totals()",
        "BEGIN",
        "COMMIT",
        "EXPLAIN SELECT * FROM {Invoice}",
        "PRAGMA foreign_keys = OFF",
        "ATTACH DATABASE 'x.db' AS x",
        "GRANT ALL ON invoices TO PUBLIC",
        "VACUUM",
        "LOCK TABLE invoices",
        "PREPARE p AS SELECT 1",
        "DO $$ BEGIN END $$",
    ] {
        let errors = refused(sql, 0, &[]);
        assert!(!errors[0].help.is_empty(), "{sql}");
    }
}

#[test]
fn session_and_admin_functions() {
    refused_at(
        "SELECT set_config('app.tenant_id', $1, false)",
        1,
        &[],
        "set_config",
    );
    refused_at(
        "SELECT pg_catalog.set_config('a', 'b', true)",
        0,
        &[],
        "pg_catalog.set_config",
    );
    refused_at(
        "SELECT \"SET_CONFIG\"('a', 'b', true)",
        0,
        &[],
        "\"SET_CONFIG\"",
    );
    refused_at(
        "SELECT query_to_xml('select * from invoices', true, false, '')",
        0,
        &[],
        "query_to_xml",
    );
    refused_at("SELECT pg_read_file('/etc/passwd')", 0, &[], "pg_read_file");
    refused_at(
        "SELECT * FROM {Invoice} i WHERE pg_advisory_lock(i.id) IS NOT NULL",
        0,
        &[],
        "pg_advisory_lock",
    );
    refused_at("SELECT lo_get(42)", 0, &[], "lo_get");
    refused_at(
        "SELECT * FROM ts_stat($$SELECT v FROM invoices$$)",
        0,
        &[],
        "ts_stat",
    );
    refused_at(
        "SELECT ts_stat($$SELECT v FROM invoices$$)",
        0,
        &[],
        "ts_stat",
    );
    refused_at("SELECT load_extension('x')", 0, &[], "load_extension");
    refused_at(
        "SELECT * FROM {Invoice} i WHERE i.id IN (SELECT dblink('x', 'y'))",
        0,
        &[],
        "dblink",
    );
}

#[test]
fn sql_the_parser_cannot_read() {
    let e = refused("SELEC * FROM {Invoice}", 0, &[]).remove(0);
    assert!(e.message.starts_with("the SQL cannot be parsed"), "{e}");
    let e = refused("SELECT * FROM {Invoice} WHERE (", 0, &[]).remove(0);
    assert!(e.message.starts_with("the SQL cannot be parsed"), "{e}");
    refused("SELECT 'unterminated FROM {Invoice}", 0, &[]);
}

#[test]
fn malformed_placeholders() {
    refused("SELECT * FROM {Invoice", 0, &[]);
    refused("SELECT * FROM Invoice}", 0, &[]);
    refused("SELECT * FROM {}", 0, &[]);
    refused("SELECT * FROM {Invoice Customer}", 0, &[]);
    refused("SELECT * FROM {\"Invoice\"}", 0, &[]);
    refused("SELECT * FROM {Invoice<T>}", 0, &[]);
    refused("SELECT * FROM {Invoice /* } */}", 0, &[]);
    refused("SELECT * FROM {Invoice -- }\n}", 0, &[]);
}

#[test]
fn entity_placeholder_outside_a_table_position() {
    refused_at("SELECT {Invoice}.id FROM {Invoice}", 0, &[], "{Invoice}");
    refused("SELECT CAST(1 AS {Invoice}) FROM {Customer}", 0, &[]);
    refused("SELECT {Invoice}(1)", 0, &[]);
    refused("SELECT x FROM {Customer} AS {Invoice}", 0, &[]);
    refused("SELECT {Invoice}.* FROM {Invoice}", 0, &[]);
}

#[test]
fn an_entity_as_a_cte_name() {
    refused(
        "WITH {Invoice} AS (SELECT 1) SELECT * FROM {Invoice}",
        0,
        &[],
    );
}

#[test]
fn reserved_prefix_anywhere() {
    refused_at("SELECT * FROM {Invoice} __tenant_a0__", 0, &[], "__tenant_");
    refused("SELECT '__TENANT_e0__' FROM {Invoice}", 0, &[]);
    refused("SELECT 1 FROM {Invoice} /* __tenant_c0__ */", 0, &[]);
    // An escaped string that decodes to the prefix is caught after rendering.
    refused("SELECT E'\\x5f_tenant_e0__' FROM {Invoice}", 0, &[]);
}

#[test]
fn two_relations_with_the_same_name() {
    refused_at("SELECT * FROM {Invoice} a, {Customer} a", 0, &[], "a");
    // An alias equal to another relation's name.
    let sql = "SELECT * FROM countries, {Invoice} countries";
    let errors = refused(sql, 0, &["countries"]);
    assert!(
        errors.iter().any(|e| e.message.contains("two relations")),
        "{errors:#?}"
    );
    refused(
        "SELECT * FROM {Invoice} i JOIN ({Customer} i JOIN {Payment} p ON true) ON true",
        0,
        &[],
    );
    refused("UPDATE {Invoice} i SET total = 0 FROM {Payment} i", 0, &[]);
    refused("DELETE FROM {Invoice} i USING {Payment} i", 0, &[]);
    refused("WITH c AS (SELECT 1) SELECT * FROM c, {Invoice} c", 0, &[]);
}

#[test]
fn cte_name_matching_only_without_case() {
    refused(
        "WITH \"Big\" AS (SELECT id FROM {Invoice}) SELECT * FROM big",
        0,
        &[],
    );
}

#[test]
fn column_aliases_on_an_entity() {
    refused("SELECT * FROM {Invoice} AS i(tenant_id, x)", 0, &[]);
}

#[test]
fn insert_forms_that_cannot_carry_the_tenant() {
    refused("INSERT INTO {Invoice} VALUES ($1, $2)", 2, &[]);
    refused("INSERT INTO {Invoice} DEFAULT VALUES", 0, &[]);
    refused("INSERT OR REPLACE INTO {Invoice} (id) VALUES ($1)", 1, &[]);
    refused("REPLACE INTO {Invoice} (id) VALUES ($1)", 1, &[]);
    refused(
        "INSERT INTO {Invoice} (id) VALUES ($1) ON CONFLICT ON CONSTRAINT invoices_pkey DO NOTHING",
        1,
        &[],
    );
}

#[test]
fn select_into_and_data_modifying_ctes() {
    refused("SELECT * INTO copy FROM {Invoice}", 0, &[]);
    refused(
        "WITH d AS (DELETE FROM {Invoice} RETURNING id) SELECT * FROM d",
        0,
        &[],
    );
    refused("TABLE {Invoice}", 0, &[]);
}

#[test]
fn in_table_and_dialect_specific_forms() {
    refused("SELECT TOP 1 * FROM {Invoice}", 0, &[]);
    refused("SELECT * FROM {Invoice} i WHERE i.data ? 'k'", 0, &[]);
}

#[test]
fn deep_nesting_is_refused_not_a_stack_overflow() {
    let depth = 5_000;
    let sql = format!(
        "SELECT {}1{} FROM {{Invoice}}",
        "(".repeat(depth),
        ")".repeat(depth)
    );
    let e = refused(&sql, 0, &[]).remove(0);
    assert!(e.message.contains("nests too deeply"), "{e}");
    let mut sql = "SELECT 1 FROM {Invoice}".to_owned();
    for _ in 0..200 {
        sql = format!("SELECT * FROM ({sql}) AS q");
    }
    refused(&sql, 0, &[]);
}

/// A plain table hidden in every expression position a subquery can take: each must be found
/// and refused (were one position not walked, its table would be read unrestricted).
#[test]
fn a_plain_table_in_any_subquery_position() {
    const HIDDEN: &str = "(SELECT v FROM invoices LIMIT 1)";
    for template in support::SUBQUERY_POSITIONS {
        let sql = template.replace("TABLE_", HIDDEN);
        let errors = refused(&sql, 0, &[]);
        // A form the parser does not read is refused as such, which is as safe.
        assert!(
            errors.iter().any(|e| e.message.contains("`invoices`")
                || e.message.starts_with("the SQL cannot be parsed")),
            "{sql}: refused, but not for its plain table: {errors:#?}"
        );
    }
}

#[test]
fn with_around_a_write() {
    let e = refused("WITH s AS (SELECT * FROM {A}) UPDATE {B} SET x = 1", 0, &[]).remove(0);
    assert!(e.message.contains("WITH .. UPDATE"), "{e}");
}
