use sea_query::{ColumnType, Query};

use super::ddl::*;
use super::read::*;
use super::slot;
use super::write::*;
use crate::repo::dialect::Dialect;
use crate::repo::meta::{ColumnMeta, ColumnRole, EntityMeta};
use crate::repo::shape::{Dir, Node, Op, Term};

const fn column(name: &'static str, role: ColumnRole, unique: bool) -> ColumnMeta {
    ColumnMeta {
        name,
        role,
        column_type: || ColumnType::Text,
        declared_type: None,
        nullable: false,
        unique,
        indexed: false,
        generated: false,
        default: None,
        references: None,
    }
}

const META: EntityMeta = EntityMeta {
    table: "invoices",
    columns: &[
        column("id", ColumnRole::Key, false),
        column("tenant_id", ColumnRole::Tenant, false),
        column("customer", ColumnRole::Data, true),
        column("amount", ColumnRole::Data, false),
    ],
    key: 0,
    tenant: 1,
};

#[test]
fn every_statement_is_filtered_by_tenant() {
    for dialect in [Dialect::Sqlite, Dialect::Postgres] {
        for sql in [
            get(&META, dialect),
            list(&META, dialect),
            filtered(&META, dialect, Filtered::Rows, &[Node::Cmp(3, Op::Gt)]),
            filtered(
                &META,
                dialect,
                Filtered::Count,
                &[Node::IsNull(2), Node::Not],
            ),
            filtered(&META, dialect, Filtered::Exists, &[Node::In(0, 2)]),
            count(&META, dialect),
            update(&META, dialect, 0b11),
            delete(&META, dialect),
            delete_where(&META, dialect, &[Node::Cmp(2, Op::Eq), Node::Not]),
            update_where(
                &META,
                dialect,
                0b01,
                &[Node::Cmp(2, Op::Eq), Node::Cmp(3, Op::Lt), Node::Or],
            ),
            update_where(&META, dialect, 0b11, &[]),
        ] {
            assert!(sql.contains(r#""tenant_id" = "#), "{sql}");
            assert!(sql.contains("WHERE"), "{sql}");
        }
    }
}

#[test]
fn rendered_statements() {
    assert_eq!(
        get(&META, Dialect::Postgres),
        r#"SELECT "id", "tenant_id", "customer", "amount" FROM "invoices" WHERE "tenant_id" = $1 AND "id" = $2"#
    );
    assert_eq!(
        insert(&META, Dialect::Sqlite),
        r#"INSERT INTO "invoices" ("tenant_id", "id", "customer", "amount") VALUES (?, ?, ?, ?)"#
    );
    assert_eq!(
        update(&META, Dialect::Postgres, 0b10),
        r#"UPDATE "invoices" SET "amount" = $1 WHERE "tenant_id" = $2 AND "id" = $3"#
    );
    assert_eq!(
        filtered(
            &META,
            Dialect::Postgres,
            Filtered::Rows,
            &[Node::Cmp(3, Op::Ge), Node::Cmp(2, Op::Eq), Node::And]
        ),
        r#"SELECT "id", "tenant_id", "customer", "amount" FROM "invoices" WHERE "amount" >= $1 AND "customer" = $2 AND "tenant_id" = $3 ORDER BY "id" ASC"#
    );
}

#[test]
fn richer_filters_render_with_the_tenant_outside() {
    let shape = [
        Node::Cmp(2, Op::Eq),
        Node::Cmp(2, Op::Like),
        Node::Or,
        Node::In(0, 2),
        Node::Not,
        Node::And,
    ];
    assert_eq!(
        filtered(&META, Dialect::Postgres, Filtered::Count, &shape),
        r#"SELECT COUNT("id") FROM "invoices" WHERE ("customer" = $1 OR "customer" LIKE $2 ESCAPE E'\\') AND (NOT "id" IN ($3, $4)) AND "tenant_id" = $5"#
    );
    assert_eq!(
        filtered(&META, Dialect::Sqlite, Filtered::Exists, &[Node::In(0, 0)]),
        r#"SELECT 1 FROM "invoices" WHERE (1 = 0) AND "tenant_id" = ? LIMIT 1"#
    );
}

fn term(column: usize, dir: Dir) -> Term {
    Term { column, dir }
}

#[test]
fn keyset_pages_render_with_the_tenant_outside_the_or_chain() {
    let order = [term(3, Dir::Desc), term(2, Dir::Asc), term(0, Dir::Asc)];
    let filter = [Node::Cmp(2, Op::Eq), Node::Cmp(2, Op::Ne), Node::Or];
    let after = Ordered::Keyset { after: true };
    assert_eq!(
        ordered(&META, Dialect::Postgres, after, &order, &filter),
        r#"SELECT "id", "tenant_id", "customer", "amount" FROM "invoices" WHERE ("customer" = $1 OR "customer" <> $2) AND "amount" <= $3 AND ("amount" < $4 OR ("amount" = $5 AND "customer" > $6) OR ("amount" = $7 AND "customer" = $8 AND "id" > $9)) AND "tenant_id" = $10 ORDER BY "amount" DESC, "customer" ASC, "id" ASC LIMIT $11"#
    );
    // The key alone: no leading bound, the chain is one comparison.
    assert_eq!(
        ordered(&META, Dialect::Sqlite, after, &[term(0, Dir::Desc)], &[]),
        r#"SELECT "id", "tenant_id", "customer", "amount" FROM "invoices" WHERE "id" < ? AND "tenant_id" = ? ORDER BY "id" DESC LIMIT ?"#
    );
    // The first page: no keyset condition, the tenant's still there.
    assert_eq!(
        ordered(
            &META,
            Dialect::Sqlite,
            Ordered::Keyset { after: false },
            &order,
            &[]
        ),
        r#"SELECT "id", "tenant_id", "customer", "amount" FROM "invoices" WHERE "tenant_id" = ? ORDER BY "amount" DESC, "customer" ASC, "id" ASC LIMIT ?"#
    );
    // Whatever the shape, the tenant predicate is a top-level conjunct: after the last
    // `AND` at depth 0, never inside parentheses.
    for dialect in [Dialect::Sqlite, Dialect::Postgres] {
        for order in [&order[..], &order[1..], &order[2..]] {
            let sql = ordered(&META, dialect, after, order, &filter);
            let (head, tail) = sql.rsplit_once(r#" AND "tenant_id" = "#).unwrap();
            assert_eq!(
                head.matches('(').count(),
                head.matches(')').count(),
                "{sql}"
            );
            assert!(!tail.contains(" OR ") && !tail.contains(')'), "{sql}");
        }
    }
}

#[test]
fn ordered_rows_render_limit_and_offset_after_the_tenant() {
    let order = [term(3, Dir::Desc), term(0, Dir::Asc)];
    let head = r#"SELECT "id", "tenant_id", "customer", "amount" FROM "invoices" WHERE "customer" IS NULL AND "tenant_id" = $1 ORDER BY "amount" DESC, "id" ASC"#;
    for (limit, offset, tail) in [
        (false, false, ""),
        (true, false, " LIMIT $2"),
        // SQLite has no OFFSET without LIMIT: the caller binds i64::MAX.
        (false, true, " LIMIT $2 OFFSET $3"),
        (true, true, " LIMIT $2 OFFSET $3"),
    ] {
        let kind = Ordered::Rows { limit, offset };
        let sql = ordered(&META, Dialect::Postgres, kind, &order, &[Node::IsNull(2)]);
        assert_eq!(sql, format!("{head}{tail}"));
    }
    assert_eq!(
        ordered(
            &META,
            Dialect::Sqlite,
            Ordered::Rows {
                limit: false,
                offset: false
            },
            &[term(0, Dir::Asc)],
            &[]
        ),
        list(&META, Dialect::Sqlite)
    );
}

/// `tickets`: a generated key and a column with a default.
const GENERATED: EntityMeta = EntityMeta {
    table: "tickets",
    columns: &[
        ColumnMeta {
            column_type: || ColumnType::BigInteger,
            generated: true,
            ..column("id", ColumnRole::Key, false)
        },
        column("tenant_id", ColumnRole::Tenant, false),
        column("title", ColumnRole::Data, false),
        ColumnMeta {
            default: Some("CURRENT_TIMESTAMP"),
            ..column("opened_at", ColumnRole::Data, false)
        },
    ],
    key: 0,
    tenant: 1,
};

/// Lines of `invoices` (META) and of `tickets` (GENERATED, a rowid key on SQLite).
const LINES: EntityMeta = EntityMeta {
    table: "lines",
    columns: &[
        column("id", ColumnRole::Key, false),
        column("tenant_id", ColumnRole::Tenant, false),
        ColumnMeta {
            references: Some(|| &META),
            ..column("invoice", ColumnRole::Data, false)
        },
        ColumnMeta {
            references: Some(|| &GENERATED),
            nullable: true,
            ..column("ticket", ColumnRole::Data, false)
        },
    ],
    key: 0,
    tenant: 1,
};

#[test]
fn belongs_to_is_a_foreign_key_led_by_the_tenant_and_indexed() {
    let pg = ddl(&LINES, Dialect::Postgres);
    assert_eq!(
        pg[0],
        r#"CREATE TABLE IF NOT EXISTS "lines" ( "id" text NOT NULL, "tenant_id" text NOT NULL CHECK ("tenant_id" ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'), "invoice" text NOT NULL, "ticket" text NULL, PRIMARY KEY ("tenant_id", "id"), CONSTRAINT "t5_lines_invoice_fkey" FOREIGN KEY ("tenant_id", "invoice") REFERENCES "invoices" ("tenant_id", "id"), CONSTRAINT "t5_lines_ticket_fkey" FOREIGN KEY ("tenant_id", "ticket") REFERENCES "tickets" ("tenant_id", "id") )"#
    );
    assert_eq!(
        &pg[1..],
        [
            r#"CREATE INDEX IF NOT EXISTS "t5_lines_invoice_idx" ON "lines" ("tenant_id", "invoice")"#,
            r#"CREATE INDEX IF NOT EXISTS "t5_lines_ticket_idx" ON "lines" ("tenant_id", "ticket")"#,
        ]
    );
    let sqlite = ddl(&LINES, Dialect::Sqlite);
    assert!(
        sqlite[0].contains(
            r#"FOREIGN KEY ("tenant_id", "ticket") REFERENCES "tickets" ("tenant_id", "id")"#
        ),
        "{}",
        sqlite[0]
    );
    assert_eq!(
        index_names(&LINES, Dialect::Sqlite),
        ["t5_lines_invoice_idx", "t5_lines_ticket_idx"]
    );
}

#[test]
fn with_parent_joins_on_tenant_and_key_and_filters_both_sides() {
    assert_eq!(
        with_parent(&LINES, &META, Dialect::Postgres, 2, &[Node::Cmp(0, Op::Gt)]),
        r#"SELECT "child"."id", "child"."tenant_id", "child"."invoice", "child"."ticket", "parent"."id", "parent"."tenant_id", "parent"."customer", "parent"."amount" FROM "lines" AS "child" INNER JOIN "invoices" AS "parent" ON "parent"."tenant_id" = "child"."tenant_id" AND "parent"."id" = "child"."invoice" WHERE "child"."id" > $1 AND "child"."tenant_id" = $2 AND "parent"."tenant_id" = $3 ORDER BY "child"."id" ASC"#
    );
    // The tenant predicates stay outside the filter's OR.
    let sql = with_parent(
        &LINES,
        &GENERATED,
        Dialect::Sqlite,
        3,
        &[Node::IsNull(2), Node::Cmp(0, Op::Eq), Node::Or],
    );
    assert!(
        sql.ends_with(r#"WHERE ("child"."invoice" IS NULL OR "child"."id" = ?) AND "child"."tenant_id" = ? AND "parent"."tenant_id" = ? ORDER BY "child"."id" ASC"#),
        "{sql}"
    );
}

#[test]
fn parents_are_created_before_their_children() {
    use crate::repo::meta::creation_order;
    assert_eq!(creation_order(&[&LINES, &META, &GENERATED]), [1, 2, 0]);
    assert_eq!(creation_order(&[&META, &LINES, &GENERATED]), [0, 2, 1]);
    // A parent not in the set is taken to exist.
    assert_eq!(creation_order(&[&LINES, &GENERATED]), [1, 0]);
    assert_eq!(creation_order(&[&LINES]), [0]);
}

#[test]
fn update_where_binds_the_patch_then_the_filter_then_the_tenant() {
    assert_eq!(
        update_where(
            &META,
            Dialect::Postgres,
            0b11,
            &[Node::Cmp(2, Op::Eq), Node::Cmp(2, Op::Ne), Node::Or]
        ),
        r#"UPDATE "invoices" SET "customer" = $1, "amount" = $2 WHERE ("customer" = $3 OR "customer" <> $4) AND "tenant_id" = $5"#
    );
    assert_eq!(
        update_where(
            &META,
            Dialect::Sqlite,
            0b10,
            &[Node::Cmp(0, Op::Gt), Node::Not]
        ),
        r#"UPDATE "invoices" SET "amount" = ? WHERE (NOT "id" > ?) AND "tenant_id" = ?"#
    );
    // An empty filter: the tenant predicate alone.
    assert_eq!(
        update_where(&META, Dialect::Sqlite, 0b01, &[]),
        r#"UPDATE "invoices" SET "customer" = ? WHERE "tenant_id" = ?"#
    );
}

// The tuples are appended by hand: the text must stay what sea-query prints for the rows.
#[test]
fn insert_many_is_what_sea_query_renders() {
    for (meta, dialect) in [
        (&META, Dialect::Postgres),
        (&META, Dialect::Sqlite),
        (&GENERATED, Dialect::Postgres),
    ] {
        for rows in [1, 2, 3, 9, 10, 11, 250, 2_501] {
            let columns = insert_columns(meta);
            let mut insert = Query::insert();
            insert
                .into_table(meta.table)
                .columns(columns.iter().copied());
            for _ in 0..rows {
                insert.values_panic(columns.iter().map(|_| slot()));
            }
            assert_eq!(insert_many(meta, dialect, rows), dialect.render(&insert));
        }
    }
}

#[test]
fn insert_many_repeats_the_row_with_the_tenant_first() {
    assert_eq!(
        insert_many(&META, Dialect::Postgres, 2),
        r#"INSERT INTO "invoices" ("tenant_id", "id", "customer", "amount") VALUES ($1, $2, $3, $4), ($5, $6, $7, $8)"#
    );
    assert_eq!(
        insert_many(&GENERATED, Dialect::Sqlite, 3),
        r#"INSERT INTO "tickets" ("tenant_id", "title") VALUES (?, ?), (?, ?), (?, ?)"#
    );
}

#[test]
fn upsert_conflicts_on_tenant_and_key_and_returns_the_row() {
    assert_eq!(
        upsert(&META, Dialect::Postgres, 0b10),
        r#"INSERT INTO "invoices" ("tenant_id", "id", "customer", "amount") VALUES ($1, $2, $3, $4) ON CONFLICT ("tenant_id", "id") DO UPDATE SET "amount" = $5 RETURNING "id", "tenant_id", "customer", "amount""#
    );
    // An empty patch: a no-op update, so the stored row still comes back.
    assert_eq!(
        upsert(&META, Dialect::Sqlite, 0),
        r#"INSERT INTO "invoices" ("tenant_id", "id", "customer", "amount") VALUES (?, ?, ?, ?) ON CONFLICT ("tenant_id", "id") DO UPDATE SET "id" = "excluded"."id" RETURNING "id", "tenant_id", "customer", "amount""#
    );
}

#[test]
fn insert_returns_the_row_as_stored() {
    // SQLite keeps every value as sent: nothing to read back unless the database fills one.
    assert!(!insert(&META, Dialect::Sqlite).contains("RETURNING"));
    assert_eq!(
        insert(&META, Dialect::Postgres),
        r#"INSERT INTO "invoices" ("tenant_id", "id", "customer", "amount") VALUES ($1, $2, $3, $4) RETURNING "id", "tenant_id", "customer", "amount""#
    );
    assert_eq!(
        insert(&GENERATED, Dialect::Postgres),
        r#"INSERT INTO "tickets" ("tenant_id", "title") VALUES ($1, $2) RETURNING "id", "tenant_id", "title", "opened_at""#
    );
}

#[test]
fn generated_keys_and_defaults_in_ddl() {
    let pg = ddl(&GENERATED, Dialect::Postgres);
    assert_eq!(
        pg,
        [
            r#"CREATE TABLE IF NOT EXISTS "tickets" ( "id" bigint NOT NULL GENERATED BY DEFAULT AS IDENTITY, "tenant_id" text NOT NULL CHECK ("tenant_id" ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'), "title" text NOT NULL, "opened_at" text NOT NULL DEFAULT (CURRENT_TIMESTAMP), PRIMARY KEY ("tenant_id", "id") )"#
        ]
    );
    let sqlite = ddl(&GENERATED, Dialect::Sqlite);
    assert_eq!(
        sqlite,
        [
            r#"CREATE TABLE IF NOT EXISTS "tickets" ( "id" integer NOT NULL PRIMARY KEY AUTOINCREMENT, "tenant_id" text NOT NULL CHECK (length("tenant_id") BETWEEN 1 AND 63 AND "tenant_id" NOT GLOB '*[^a-z0-9-]*' AND "tenant_id" NOT GLOB '-*' AND "tenant_id" NOT GLOB '*-'), "title" text NOT NULL, "opened_at" text NOT NULL DEFAULT (CURRENT_TIMESTAMP) )"#,
            r#"CREATE UNIQUE INDEX IF NOT EXISTS "t7_tickets_id_key" ON "tickets" ("tenant_id", "id")"#,
        ]
    );
    assert_eq!(
        index_names(&GENERATED, Dialect::Sqlite),
        ["t7_tickets_id_key"]
    );
    assert!(index_names(&GENERATED, Dialect::Postgres).is_empty());
}

#[test]
// Regression: a malformed sequence (an operator short of operands) dropped the whole
// filter, so the statement matched every row of the tenant.
fn a_malformed_filter_matches_nothing() {
    for shape in [
        &[Node::Not][..],
        &[Node::Cmp(2, Op::Eq), Node::And],
        &[Node::Cmp(2, Op::Eq), Node::Cmp(3, Op::Eq)],
    ] {
        let sql = filtered(&META, Dialect::Sqlite, Filtered::Count, shape);
        assert!(sql.contains("(1 = 0)"), "{sql}");
        let sql = delete_where(&META, Dialect::Sqlite, shape);
        assert!(sql.contains("(1 = 0)"), "{sql}");
    }
}

#[test]
// Two (table, column) pairs never share an index name (`{table}_{column}_key` collided across
// tables, and `IF NOT EXISTS` then skipped the second index and its per-tenant uniqueness), and a
// long name is hashed rather than cut.
fn index_names_cannot_collide_or_be_cut() {
    assert_ne!(
        index_name("invoice", "line_number", "key"),
        index_name("invoice_line", "number", "key")
    );
    let long = "x".repeat(60);
    let (a, b) = (index_name(&long, "a", "key"), index_name(&long, "b", "key"));
    assert!(a.len() <= 63 && b.len() <= 63, "{a} {b}");
    assert_ne!(a, b);
}

#[test]
fn ddl_leads_with_the_tenant() {
    let ddl = ddl(&META, Dialect::Postgres);
    assert!(
        ddl[0].contains(r#""tenant_id" text NOT NULL"#),
        "{}",
        ddl[0]
    );
    assert!(
        ddl[0].contains(r#"PRIMARY KEY ("tenant_id", "id")"#),
        "{}",
        ddl[0]
    );
    assert_eq!(
        ddl[1],
        r#"CREATE UNIQUE INDEX IF NOT EXISTS "t8_invoices_customer_key" ON "invoices" ("tenant_id", "customer")"#
    );
}

#[test]
// `IF NOT EXISTS` compares names only: whatever has the name must be exactly the index, or the
// clash is a typed error naming what is there.
fn an_index_name_must_belong_to_exactly_that_index() {
    use crate::error::Error;
    let spec = IndexSpec {
        name: "t8_invoices_number_key".into(),
        unique: true,
        columns: ["tenant_id", "number"],
    };
    let index = |unique, partial, valid, columns: &str| RelationFacts {
        kind: "index".into(),
        table: Some("invoices".into()),
        on_entity_table: Some(true),
        unique: Some(unique),
        partial: Some(partial),
        valid: Some(valid),
        columns: Some(columns.replace(',', "\u{1f}")),
    };
    let found = |facts| match check_index("invoices", &spec, Some(facts)) {
        Err(Error::IndexMismatch {
            found, expected, ..
        }) => {
            assert_eq!(expected, "UNIQUE (tenant_id, number)");
            found
        }
        other => panic!("{other:?}"),
    };
    assert!(check_index("invoices", &spec, None).is_ok());
    assert!(
        check_index(
            "invoices",
            &spec,
            Some(index(true, false, true, "tenant_id,number"))
        )
        .is_ok()
    );
    assert_eq!(
        found(index(false, false, true, "tenant_id,number")),
        "an index on (tenant_id, number)"
    );
    assert_eq!(
        found(index(true, false, true, "number")),
        "a unique index on (number)"
    );
    assert_eq!(
        found(index(true, false, true, "number,tenant_id")),
        "a unique index on (number, tenant_id)"
    );
    assert_eq!(
        found(index(true, true, true, "tenant_id,number")),
        "a partial unique index on (tenant_id, number)"
    );
    assert_eq!(
        found(index(true, false, false, "tenant_id,number")),
        "an invalid unique index on (tenant_id, number)"
    );
    assert_eq!(
        found(index(true, false, true, "tenant_id,?")),
        "a unique index on (tenant_id, ?)"
    );
    for (kind, said) in [
        ("table", "a table"),
        ("sequence", "a sequence"),
        ("view", "a view"),
        ("materialized view", "a materialized view"),
    ] {
        let facts = RelationFacts {
            kind: kind.into(),
            table: None,
            on_entity_table: None,
            unique: None,
            partial: None,
            valid: None,
            columns: None,
        };
        assert_eq!(found(facts), said);
    }
    let elsewhere = RelationFacts {
        on_entity_table: Some(false),
        table: Some("legacy".into()),
        ..index(true, false, true, "tenant_id,number")
    };
    assert!(matches!(
        check_index("invoices", &spec, Some(elsewhere)),
        Err(Error::IndexNameTaken { table, .. }) if table == "legacy"
    ));
}
