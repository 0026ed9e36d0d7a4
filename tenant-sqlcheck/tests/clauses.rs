//! Each clause kind of issue 22 item 3: the statement is accepted, and the rendered SQL,
//! parsed again, restricts every entity reference where it is exact (the oracle in
//! `support`), with the placement checked on the AST.

mod support;

use support::{checked, derived_tables, placement};

#[test]
fn from_item_is_restricted_in_where_outside_the_users_condition() {
    let sql = checked(
        "SELECT i.id FROM {Invoice} i WHERE i.total > $1 OR i.id = $2",
        2,
        &[],
    );
    assert_eq!(placement(&sql, "i", 0, 3), "where");
    // The user's OR stays inside its parentheses: the conjunct is top-level (the oracle
    // splits only on AND, never through parentheses).
}

#[test]
fn unaliased_entity_gets_a_private_alias() {
    let sql = checked("SELECT count(*) FROM {Invoice}", 0, &[]);
    assert_eq!(placement(&sql, "__tenant_a0__", 0, 1), "where");
}

#[test]
fn inner_and_cross_joins_are_restricted_in_where() {
    let sql = checked(
        "SELECT i.id, c.name FROM {Invoice} i JOIN {Customer} c ON c.id = i.customer_id CROSS JOIN {Payment} p",
        0,
        &[],
    );
    for (alias, entity) in [("i", 0), ("c", 1), ("p", 2)] {
        assert_eq!(placement(&sql, alias, entity, 1), "where", "{alias}");
    }
    checked(
        "SELECT * FROM {Invoice} i INNER JOIN {Customer} c USING (customer_id)",
        0,
        &[],
    );
    checked(
        "SELECT * FROM {Invoice} i NATURAL JOIN {Customer} c",
        0,
        &[],
    );
    checked(
        "SELECT * FROM {Invoice} i, {Customer} c WHERE c.id = i.customer_id",
        0,
        &[],
    );
}

#[test]
fn left_join_nullable_side_is_restricted_in_its_on() {
    let sql = checked(
        "SELECT c.name, count(i.id) FROM {Customer} c LEFT JOIN {Invoice} i ON i.customer_id = c.id GROUP BY c.name",
        0,
        &[],
    );
    assert_eq!(placement(&sql, "i", 1, 1), "on");
    assert_eq!(placement(&sql, "c", 0, 1), "where");
    checked(
        "SELECT * FROM {Customer} c LEFT OUTER JOIN {Invoice} i ON i.customer_id = c.id AND i.total > 0",
        0,
        &[],
    );
}

#[test]
fn right_join_restricts_its_left_side_in_the_on_and_its_right_side_in_where() {
    let sql = checked(
        "SELECT * FROM {Invoice} i JOIN {Payment} p ON p.invoice_id = i.id RIGHT JOIN {Customer} c ON c.id = i.customer_id",
        0,
        &[],
    );
    assert_eq!(placement(&sql, "i", 0, 1), "on");
    assert_eq!(placement(&sql, "p", 1, 1), "on");
    assert_eq!(placement(&sql, "c", 2, 1), "where");
}

#[test]
fn left_join_then_right_join_keeps_the_left_joins_restriction_in_its_own_on() {
    let sql = checked(
        "SELECT * FROM {Invoice} i LEFT JOIN {Payment} p ON p.invoice_id = i.id RIGHT JOIN {Customer} c ON c.id = i.customer_id",
        0,
        &[],
    );
    assert_eq!(placement(&sql, "c", 2, 1), "where");
}

#[test]
fn full_join_uses_restricted_derived_tables() {
    let sql = checked(
        "SELECT * FROM {Invoice} i FULL JOIN {Payment} p ON p.invoice_id = i.id",
        0,
        &[],
    );
    assert_eq!(derived_tables(&sql, 1), 2);
    let sql = checked(
        "SELECT * FROM {Invoice} i FULL OUTER JOIN {Payment} p ON p.invoice_id = i.id JOIN {Customer} c ON c.id = i.customer_id",
        0,
        &[],
    );
    assert_eq!(derived_tables(&sql, 1), 2);
    assert_eq!(placement(&sql, "c", 2, 1), "where");
}

#[test]
fn outer_joins_without_on_use_restricted_derived_tables() {
    let sql = checked(
        "SELECT * FROM {Customer} c LEFT JOIN {Invoice} i USING (customer_id)",
        0,
        &[],
    );
    assert_eq!(derived_tables(&sql, 1), 1);
    let sql = checked(
        "SELECT * FROM {Customer} c NATURAL RIGHT JOIN {Invoice} i",
        0,
        &[],
    );
    assert_eq!(derived_tables(&sql, 1), 1);
}

#[test]
fn lateral_makes_every_entity_of_its_from_a_derived_table() {
    let sql = checked(
        "SELECT * FROM {Customer} c, LATERAL (SELECT i.total FROM {Invoice} i WHERE i.customer_id = c.id ORDER BY i.total DESC LIMIT 1) AS top",
        0,
        &[],
    );
    assert_eq!(derived_tables(&sql, 1), 1);
    assert_eq!(placement(&sql, "i", 1, 1), "where");
}

#[test]
fn parenthesised_joins() {
    let sql = checked(
        "SELECT * FROM {Customer} c LEFT JOIN ({Invoice} i JOIN {Payment} p ON p.invoice_id = i.id) ON i.customer_id = c.id",
        0,
        &[],
    );
    assert_eq!(placement(&sql, "i", 1, 1), "on");
    assert_eq!(placement(&sql, "p", 2, 1), "on");
}

#[test]
fn subqueries_in_select_where_from_and_having_are_restricted_on_their_own() {
    checked(
        "SELECT c.id, (SELECT count(*) FROM {Invoice} i WHERE i.customer_id = c.id) AS n FROM {Customer} c",
        0,
        &[],
    );
    checked(
        "SELECT * FROM {Customer} c WHERE c.id IN (SELECT i.customer_id FROM {Invoice} i)",
        0,
        &[],
    );
    checked(
        "SELECT * FROM {Customer} c WHERE NOT EXISTS (SELECT 1 FROM {Invoice} i WHERE i.customer_id = c.id)",
        0,
        &[],
    );
    checked(
        "SELECT * FROM {Customer} c WHERE c.id = ANY (SELECT i.customer_id FROM {Invoice} i)",
        0,
        &[],
    );
    checked(
        "SELECT t.n FROM (SELECT count(*) AS n FROM {Invoice}) AS t",
        0,
        &[],
    );
    checked(
        "SELECT c.id FROM {Customer} c JOIN {Invoice} i ON i.customer_id = c.id GROUP BY c.id HAVING sum(i.total) > (SELECT avg(p.amount) FROM {Payment} p)",
        0,
        &[],
    );
}

#[test]
fn three_table_join_with_group_by_having_and_a_window() {
    checked(
        "SELECT c.name, sum(p.amount) AS paid, rank() OVER (PARTITION BY c.country ORDER BY sum(p.amount) DESC) \
         FROM {Invoice} i JOIN {Customer} c ON c.id = i.customer_id LEFT JOIN {Payment} p ON p.invoice_id = i.id \
         WHERE i.total > $1 GROUP BY c.name, c.country HAVING count(*) > $2 ORDER BY paid DESC LIMIT $3",
        3,
        &[],
    );
}

#[test]
fn ctes_are_restricted_and_renamed_privately() {
    let sql = checked(
        "WITH big AS (SELECT * FROM {Invoice} WHERE total > 100) SELECT b.id, c.name FROM big b JOIN {Customer} c ON c.id = b.customer_id",
        0,
        &[],
    );
    assert!(!sql.contains("WITH big"), "{sql}");
    // A CTE named like a table is only that CTE, in its scope.
    checked(
        "WITH invoices AS (SELECT id FROM {Invoice}) SELECT id FROM invoices",
        0,
        &[],
    );
    // Later CTEs see earlier ones.
    checked(
        "WITH a AS (SELECT id FROM {Invoice}), b AS (SELECT id FROM a) SELECT * FROM b",
        0,
        &[],
    );
}

#[test]
fn recursive_cte_restricts_both_branches() {
    checked(
        "WITH RECURSIVE chain(id, parent) AS (SELECT id, parent_id FROM {Invoice} WHERE id = $1 \
         UNION ALL SELECT i.id, i.parent_id FROM {Invoice} i JOIN chain ON i.id = chain.parent) SELECT id FROM chain",
        1,
        &[],
    );
}

#[test]
fn set_operations_restrict_every_branch() {
    for op in ["UNION", "UNION ALL", "INTERSECT", "EXCEPT"] {
        checked(
            &format!("SELECT id FROM {{Invoice}} {op} SELECT invoice_id FROM {{Payment}}"),
            0,
            &[],
        );
    }
}

#[test]
fn update_is_restricted_in_where() {
    let sql = checked("UPDATE {Invoice} SET total = $1 WHERE id = $2", 2, &[]);
    assert!(
        sql.starts_with("UPDATE \"ent_0\" AS __tenant_a0__"),
        "{sql}"
    );
    checked("UPDATE {Invoice} i SET total = 0", 0, &[]);
}

#[test]
fn update_from_restricts_the_from_entities_too() {
    checked(
        "UPDATE {Invoice} i SET total = p.amount FROM {Payment} p LEFT JOIN {Customer} c ON c.id = p.customer_id WHERE p.invoice_id = i.id RETURNING i.id, c.name",
        0,
        &[],
    );
}

#[test]
fn delete_and_delete_using() {
    checked("DELETE FROM {Invoice} WHERE id = $1 RETURNING id", 1, &[]);
    let sql = checked(
        "DELETE FROM {Invoice} i USING {Customer} c WHERE c.id = i.customer_id AND c.name = $1",
        1,
        &[],
    );
    // SQLite has no USING: the engine writes EXISTS, on both backends.
    assert!(!sql.contains("USING"), "{sql}");
}

#[test]
fn insert_values_and_insert_select_get_the_tenant_column() {
    checked(
        "INSERT INTO {Invoice} (id, total) VALUES ($1, $2), ($3, 0)",
        3,
        &[],
    );
    checked(
        "INSERT INTO {Invoice} (id, total) SELECT p.invoice_id, sum(p.amount) FROM {Payment} p GROUP BY p.invoice_id",
        0,
        &[],
    );
    checked(
        "INSERT INTO {Invoice} (id) SELECT id FROM {Customer} UNION SELECT invoice_id FROM {Payment}",
        0,
        &[],
    );
}

#[test]
fn upsert_prepends_the_tenant_column_to_the_conflict_target_and_restricts_do_update() {
    let sql = checked(
        "INSERT INTO {Invoice} (id, total) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET total = excluded.total WHERE excluded.total > 0 RETURNING id, total",
        2,
        &[],
    );
    assert!(sql.contains("ON CONFLICT(\"tcol_0\", id)"), "{sql}");
    checked(
        "INSERT INTO {Invoice} (id, total) VALUES ($1, 0) ON CONFLICT (id) DO NOTHING",
        1,
        &[],
    );
    checked(
        "INSERT INTO {Invoice} (id) VALUES ($1) ON CONFLICT DO NOTHING",
        1,
        &[],
    );
}

#[test]
fn shared_tables_are_read_unrestricted() {
    let sql = checked(
        "SELECT c.name, k.name FROM {Customer} c JOIN countries k ON k.code = c.country",
        0,
        &["countries"],
    );
    assert_eq!(placement(&sql, "c", 0, 1), "where");
    checked("SELECT * FROM COUNTRIES", 0, &["countries"]);
    checked("SELECT * FROM \"countries\"", 0, &["countries"]);
}

#[test]
fn columns_are_reported_everywhere_they_are_named() {
    use tenant_sqlcheck::{Options, check};
    let sql = "INSERT INTO {Invoice} (tid_a, total) SELECT \"TID_B\", 1 FROM {Customer} c JOIN {Payment} p USING (tid_c) \
               WHERE c.tid_d = 1 ON CONFLICT (tid_e) DO UPDATE SET tid_f = 1 RETURNING tid_g, {Invoice}.tid_h";
    let checked = check(
        sql,
        &Options {
            args: 0,
            shared: &[],
        },
    );
    // `{Invoice}.tid_h` in RETURNING is refused (entities are qualified by an alias); the rest
    // is reported.
    assert!(checked.is_err());
    let sql = "INSERT INTO {Invoice} (tid_a, total) SELECT \"TID_B\", 1 FROM {Customer} c JOIN {Payment} p USING (tid_c) \
               WHERE c.tid_d = 1 ON CONFLICT (tid_e) DO UPDATE SET tid_f = 1 RETURNING tid_g";
    let checked = check(
        sql,
        &Options {
            args: 0,
            shared: &[],
        },
    )
    .unwrap();
    for name in [
        "tid_a", "TID_B", "tid_c", "tid_d", "tid_e", "tid_f", "tid_g",
    ] {
        let column = checked
            .columns
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("{name} not reported"));
        assert_eq!(&sql[column.span.clone()], name);
    }
    let sql = "UPDATE {Invoice} i SET (tid_a, tid_b) = (1, 2) WHERE i.tid_c IN (SELECT tid_d FROM {Customer})";
    let checked = check(
        sql,
        &Options {
            args: 0,
            shared: &[],
        },
    )
    .unwrap();
    for name in ["tid_a", "tid_b", "tid_c", "tid_d"] {
        assert!(checked.columns.iter().any(|c| c.name == name), "{name}");
    }
}

#[test]
fn entities_are_deduplicated_in_order_with_spans() {
    use tenant_sqlcheck::{Options, check};
    let sql = "SELECT * FROM {b::B} x JOIN { a::A } y ON true JOIN {b::B} z ON true";
    let checked = check(
        sql,
        &Options {
            args: 0,
            shared: &[],
        },
    )
    .unwrap();
    let paths: Vec<&str> = checked.entities.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths, ["b::B", "a::A"]);
    assert_eq!(&sql[checked.entities[1].span.clone()], "{ a::A }");
    assert!(checked.returns_rows);
    let checked = check(
        "DELETE FROM {b::B}",
        &Options {
            args: 0,
            shared: &[],
        },
    )
    .unwrap();
    assert!(!checked.returns_rows);
}

#[test]
fn comments_and_strings_hold_no_placeholders() {
    let sql = checked(
        "SELECT '{Customer}' AS s /* {Customer} */ FROM {Invoice} -- {Customer}\n",
        0,
        &[],
    );
    assert!(sql.contains("'{Customer}'"), "{sql}");
    checked("SELECT 'a{{b' FROM {Invoice} WHERE x = $1", 1, &[]);
}

#[test]
fn a_trailing_semicolon_is_one_statement() {
    checked("SELECT id FROM {Invoice};", 0, &[]);
    checked("DELETE FROM {Invoice} WHERE id = $1 ;\n", 1, &[]);
}

/// An entity in each expression position a subquery can take is restricted there.
#[test]
fn an_entity_in_any_subquery_position() {
    let mut parsed = 0;
    for template in support::SUBQUERY_POSITIONS {
        let sql = template
            .replace("TABLE_", "(SELECT v FROM {B} LIMIT 1)")
            .replace("FROM invoices", "FROM {B}");
        match tenant_sqlcheck::check(
            &sql,
            &tenant_sqlcheck::Options {
                args: 0,
                shared: &[],
            },
        ) {
            Ok(_) => {
                checked(&sql, 0, &[]);
                parsed += 1;
            }
            // Forms the parser does not read, and `WITH .. SELECT` inside an expression, are
            // refused; none other may be.
            Err(errors) => assert!(
                errors
                    .iter()
                    .all(|e| e.message.starts_with("the SQL cannot be parsed")),
                "{sql}: {errors:#?}"
            ),
        }
    }
    assert!(parsed >= 60, "{parsed}");
}

/// What a routed (read-only) handle may run: a SELECT without a locking clause at any level.
/// Everything else writes, or locks rows for a write, and runs in a fenced transaction only.
#[test]
fn only_a_select_without_locks_is_a_read() {
    use tenant_sqlcheck::{Options, check};
    let writes = |sql: &str, args: usize| {
        check(sql, &Options { args, shared: &[] })
            .unwrap_or_else(|e| panic!("{sql}: {e:?}"))
            .writes
    };
    for read in [
        "SELECT i.id FROM {Invoice} i WHERE i.total > $1",
        "WITH big AS (SELECT id FROM {Invoice} WHERE total > 10) SELECT count(*) FROM big",
        "SELECT c.name FROM {Customer} c WHERE EXISTS (SELECT 1 FROM {Invoice} i WHERE i.customer_id = c.id)",
        "SELECT id FROM {Invoice} UNION SELECT id FROM {Customer}",
    ] {
        assert!(!writes(read, usize::from(read.contains("$1"))), "{read}");
    }
    for write in [
        "INSERT INTO {Invoice} (id, total) VALUES ($1, 1)",
        "UPDATE {Invoice} SET total = 2 WHERE id = $1",
        "DELETE FROM {Invoice} WHERE id = $1",
        "INSERT INTO {Invoice} (id, total) SELECT id, total FROM {Invoice} WHERE id = $1",
        "SELECT id FROM {Invoice} WHERE id = $1 FOR UPDATE",
        "SELECT id FROM {Invoice} WHERE id = $1 FOR SHARE",
        "SELECT c.id FROM {Customer} c WHERE c.id IN (SELECT customer_id FROM {Invoice} WHERE id = $1 FOR UPDATE)",
        "WITH locked AS (SELECT id FROM {Invoice} WHERE id = $1 FOR UPDATE) SELECT id FROM locked",
    ] {
        assert!(writes(write, 1), "{write}");
    }
}
