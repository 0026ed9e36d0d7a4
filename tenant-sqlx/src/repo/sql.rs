//! Every statement a repository runs, built with sea-query. Each is rendered once per dialect
//! and cached (see `cache.rs`); the placeholders are bound by the caller in the order the
//! functions here document.

use sea_query::{ColumnDef, ColumnType, Expr, ExprTrait, Func, Index, Order, Query, Table};

use super::backend::Dialect;
use super::filter::{Node, Op};
use super::meta::{ColumnMeta, ColumnRole, EntityMeta};
use super::order::{Dir, Term};

/// Placeholder value: only the rendered SQL text is kept, the values are bound at call time.
fn slot() -> Expr {
    Expr::val(0i64)
}

fn select_columns(meta: &EntityMeta) -> sea_query::SelectStatement {
    let mut select = Query::select();
    select
        .columns(meta.columns.iter().map(|c| c.name))
        .from(meta.table);
    select
}

/// Binds: tenant, key.
pub(crate) fn get(meta: &EntityMeta, dialect: Dialect) -> String {
    let mut select = select_columns(meta);
    select
        .and_where(Expr::col(meta.tenant_column()).eq(slot()))
        .and_where(Expr::col(meta.key_column()).eq(slot()));
    dialect.render(&select)
}

/// Binds: tenant.
pub(crate) fn list(meta: &EntityMeta, dialect: Dialect) -> String {
    filtered(meta, dialect, Filtered::Rows, &[])
}

/// What a filtered statement returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Filtered {
    /// Every column of the matching rows, ordered by key.
    Rows,
    /// How many rows match.
    Count,
    /// One row (`SELECT 1 .. LIMIT 1`) if any matches.
    Exists,
}

/// Binds: the filter's values in the order of its leaves, then tenant. (The tenant comes last so
/// the filter's values convert into arguments in one go and the tenant id is bound by reference
/// after them.) The tenant predicate is ANDed outside the filter: no `or` in it can reach
/// another tenant's rows.
pub(crate) fn filtered(
    meta: &EntityMeta,
    dialect: Dialect,
    kind: Filtered,
    shape: &[Node],
) -> String {
    let mut select = match kind {
        Filtered::Rows => select_columns(meta),
        Filtered::Count => {
            let mut select = Query::select();
            select
                .expr(Func::count(Expr::col(meta.key_column())))
                .from(meta.table);
            select
        }
        Filtered::Exists => {
            let mut select = Query::select();
            // A constant, not a value: a value would be a placeholder nobody binds.
            select.expr(Expr::cust("1")).from(meta.table);
            select
        }
    };
    if let Some(condition) = condition(meta, shape) {
        select.and_where(condition);
    }
    select.and_where(Expr::col(meta.tenant_column()).eq(slot()));
    match kind {
        Filtered::Rows => {
            select.order_by(meta.key_column(), Order::Asc);
            dialect.render(&select)
        }
        Filtered::Count => dialect.render(&select),
        // sea-query renders a limit as a placeholder; this one is a constant.
        Filtered::Exists => format!("{} LIMIT 1", dialect.render(&select)),
    }
}

/// The filter's condition, built from its postfix nodes; `None` for an empty filter.
fn condition(meta: &EntityMeta, shape: &[Node]) -> Option<Expr> {
    let mut stack: Vec<Expr> = Vec::with_capacity(shape.len());
    for &node in shape {
        let expr = match node {
            Node::Cmp(column, op) => {
                let column = Expr::col(meta.columns[column].name);
                match op {
                    Op::Eq => column.eq(slot()),
                    Op::Ne => column.ne(slot()),
                    Op::Lt => column.lt(slot()),
                    Op::Le => column.lte(slot()),
                    Op::Gt => column.gt(slot()),
                    Op::Ge => column.gte(slot()),
                    Op::Like => column.like(sea_query::LikeExpr::new("").escape('\\')),
                }
            }
            // `IN ()` is not SQL; no values match nothing.
            Node::In(_, 0) => Expr::cust("1 = 0"),
            Node::In(column, n) => Expr::col(meta.columns[column].name).is_in((0..n).map(|_| 0i64)),
            Node::IsNull(column) => Expr::col(meta.columns[column].name).is_null(),
            Node::And | Node::Or => {
                // Built by `Filter`'s own combinators: two operands are always there.
                let right = stack.pop()?;
                let left = stack.pop()?;
                if node == Node::And {
                    left.and(right)
                } else {
                    left.or(right)
                }
            }
            Node::Not => stack.pop()?.not(),
        };
        stack.push(expr);
    }
    stack.pop()
}

/// What an ordered statement returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Ordered {
    /// The matching rows in order, with `LIMIT ?` and `OFFSET ?` if asked. An offset comes with
    /// a limit (SQLite has no OFFSET without LIMIT): bind `i64::MAX` for none.
    Rows { limit: bool, offset: bool },
    /// A keyset page: the matching rows in order, `LIMIT ?`, and if `after`, only the rows after
    /// a cursor's values.
    Keyset { after: bool },
}

/// Binds: the filter's values in the order of its leaves; for a keyset page after a cursor,
/// the cursor's values as [`keyset`] takes them; then tenant; then the limit and the offset
/// when the statement has them. Every predicate, the keyset's included, is ANDed with the
/// tenant's, which stays outside the keyset's OR chain like it stays outside the filter.
pub(crate) fn ordered(
    meta: &EntityMeta,
    dialect: Dialect,
    kind: Ordered,
    order: &[Term],
    shape: &[Node],
) -> String {
    let mut select = select_columns(meta);
    if let Some(condition) = condition(meta, shape) {
        select.and_where(condition);
    }
    if kind == (Ordered::Keyset { after: true }) {
        keyset(meta, order, &mut select);
    }
    select.and_where(Expr::col(meta.tenant_column()).eq(slot()));
    for term in order {
        let dir = match term.dir {
            Dir::Asc => Order::Asc,
            Dir::Desc => Order::Desc,
        };
        select.order_by(meta.columns[term.column].name, dir);
    }
    // The numbers are placeholders: sea-query renders a limit and an offset as values.
    match kind {
        Ordered::Rows { limit, offset } => {
            if limit || offset {
                select.limit(0);
            }
            if offset {
                select.offset(0);
            }
        }
        Ordered::Keyset { .. } => {
            select.limit(0);
        }
    }
    dialect.render(&select)
}

/// The rows after a cursor's values `v1..vn` in `order` (c1, .., cn; the key last), in the
/// row-value-free form both dialects plan alike: `(c1 > v1) OR (c1 = v1 AND c2 > v2) OR ..`,
/// with `<` for descending columns. With more than one column it is preceded by `c1 >= v1`
/// (`<=` descending), implied by the chain but a range an index on (tenant, c1) can seek to,
/// where the OR chain alone would scan the tenant's rows from the start.
///
/// Binds: with more than one column, v1; then, for each column i in order, v1..vi.
fn keyset(meta: &EntityMeta, order: &[Term], select: &mut sea_query::SelectStatement) {
    let column = |term: &Term| Expr::col(meta.columns[term.column].name);
    let after = |term: &Term| match term.dir {
        Dir::Asc => column(term).gt(slot()),
        Dir::Desc => column(term).lt(slot()),
    };
    if let [first, _, ..] = order {
        select.and_where(match first.dir {
            Dir::Asc => column(first).gte(slot()),
            Dir::Desc => column(first).lte(slot()),
        });
    }
    // Expressions, not `Condition`s: sea-query panics when `cond_where` and `and_where` mix.
    let chain = (0..order.len())
        .map(|i| {
            order[..i]
                .iter()
                .map(|term| column(term).eq(slot()))
                .chain(std::iter::once(after(&order[i])))
                .reduce(|left, right| left.and(right))
        })
        .reduce(|left, right| Some(left?.or(right?)));
    if let Some(Some(chain)) = chain {
        select.and_where(chain);
    }
}

/// Binds: tenant.
pub(crate) fn count(meta: &EntityMeta, dialect: Dialect) -> String {
    let mut select = Query::select();
    select
        .expr(Func::count(Expr::col(meta.key_column())))
        .from(meta.table)
        .and_where(Expr::col(meta.tenant_column()).eq(slot()));
    dialect.render(&select)
}

/// Binds: tenant, then every non-tenant column in field order.
pub(crate) fn insert(meta: &EntityMeta, dialect: Dialect) -> String {
    let tenant = meta.tenant_column();
    let others = meta.columns.iter().filter(|c| c.role != ColumnRole::Tenant);
    let columns: Vec<&'static str> = std::iter::once(tenant)
        .chain(others.map(|c| c.name))
        .collect();
    let mut insert = Query::insert();
    insert
        .into_table(meta.table)
        .columns(columns.iter().copied())
        .values_panic(columns.iter().map(|_| slot()));
    dialect.render(&insert)
}

/// Binds: the patched columns (bits of `mask`, in field order), then tenant, key.
pub(crate) fn update(meta: &EntityMeta, dialect: Dialect, mask: u64) -> String {
    let mut update = Query::update();
    update.table(meta.table);
    for (bit, column) in meta.patchable().enumerate() {
        if mask & (1 << bit) != 0 {
            update.value(column.name, slot());
        }
    }
    update
        .and_where(Expr::col(meta.tenant_column()).eq(slot()))
        .and_where(Expr::col(meta.key_column()).eq(slot()));
    dialect.render(&update)
}

/// Binds: tenant, key.
pub(crate) fn delete(meta: &EntityMeta, dialect: Dialect) -> String {
    let mut delete = Query::delete();
    delete
        .from_table(meta.table)
        .and_where(Expr::col(meta.tenant_column()).eq(slot()))
        .and_where(Expr::col(meta.key_column()).eq(slot()));
    dialect.render(&delete)
}

/// Binds: the filter's values in the order of its leaves, then tenant. The tenant predicate is
/// ANDed outside the filter, as in [`filtered`].
pub(crate) fn delete_where(meta: &EntityMeta, dialect: Dialect, shape: &[Node]) -> String {
    let mut delete = Query::delete();
    delete.from_table(meta.table);
    if let Some(condition) = condition(meta, shape) {
        delete.and_where(condition);
    }
    delete.and_where(Expr::col(meta.tenant_column()).eq(slot()));
    dialect.render(&delete)
}

/// Binds nothing: every tenant's rows, for a `SystemCtx`.
pub(crate) fn system_list(meta: &EntityMeta, dialect: Dialect) -> String {
    let mut select = select_columns(meta);
    select
        .order_by(meta.tenant_column(), Order::Asc)
        .order_by(meta.key_column(), Order::Asc);
    dialect.render(&select)
}

/// Binds nothing.
pub(crate) fn system_count(meta: &EntityMeta, dialect: Dialect) -> String {
    let mut select = Query::select();
    select
        .expr(Func::count(Expr::col(meta.key_column())))
        .from(meta.table);
    dialect.render(&select)
}

/// Binds nothing: the distinct tenants that own rows.
pub(crate) fn system_tenant_ids(meta: &EntityMeta, dialect: Dialect) -> String {
    let mut select = Query::select();
    select
        .distinct()
        .column(meta.tenant_column())
        .from(meta.table)
        .order_by(meta.tenant_column(), Order::Asc);
    dialect.render(&select)
}

/// The name of the index of `column` of `table`: `t{len}_{table}_{column}_{suffix}`. The table's
/// length comes first, so two (table, column) pairs never render the same name (`invoice` with
/// `line_number` and `invoice_line` with `number` did, and `IF NOT EXISTS` then skipped the
/// second index, and its uniqueness with it). A name past PostgreSQL's 63 bytes ends in an
/// FNV-1a hash of the whole name rather than being cut where PostgreSQL would cut it.
pub(crate) fn index_name(table: &str, column: &str, suffix: &str) -> String {
    const MAX: usize = 63;
    let full = format!("t{}_{table}_{column}_{suffix}", table.len());
    if full.len() <= MAX {
        return full;
    }
    let mut hasher = fnv::FnvHasher::default();
    std::hash::Hasher::write(&mut hasher, full.as_bytes());
    let hash = std::hash::Hasher::finish(&hasher);
    // Identifiers are ASCII (the macro checks them), so any byte offset is a char boundary.
    format!("{}_{hash:016x}", &full[..MAX - 17])
}

fn index_suffix(column: &ColumnMeta) -> &'static str {
    if column.unique { "key" } else { "idx" }
}

/// The names of the entity's indexes, in the order [`ddl`] creates them.
pub(crate) fn index_names(meta: &EntityMeta) -> Vec<String> {
    meta.columns
        .iter()
        .filter(|c| c.unique || c.indexed)
        .map(|column| index_name(meta.table, column.name, index_suffix(column)))
        .collect()
}

/// CREATE TABLE and CREATE INDEX statements. The tenant column is NOT NULL and leads the primary
/// key and every index, so each tenant's rows are contiguous in every index and the table shards
/// by tenant on distributed PostgreSQL.
pub(crate) fn ddl(meta: &EntityMeta, dialect: Dialect) -> Vec<String> {
    let tenant = meta.tenant_column();
    let mut table = Table::create();
    table.table(meta.table).if_not_exists();
    for column in meta.columns {
        let mut def = ColumnDef::new_with_type(column.name, column.ddl_type());
        if column.nullable && column.role == ColumnRole::Data {
            def.null();
        } else {
            def.not_null();
        }
        // PostgreSQL's `infinity` is a timestamp and a date, but no `time` or `chrono` value:
        // sqlx panics decoding it. Refuse it where it would be written instead.
        let infinite = matches!(
            column.ddl_type(),
            ColumnType::Timestamp | ColumnType::TimestampWithTimeZone | ColumnType::Date
        );
        if infinite && column.declared_type.is_none() && dialect == Dialect::Postgres {
            def.check(Expr::cust(format!("isfinite(\"{}\")", column.name)));
        }
        table.col(def);
    }
    table.primary_key(Index::create().col(tenant).col(meta.key_column()));

    let mut statements = vec![dialect.render_schema(&table)];
    for column in meta.columns.iter().filter(|c| c.unique || c.indexed) {
        let suffix = index_suffix(column);
        let mut index = Index::create();
        index
            .if_not_exists()
            .name(index_name(meta.table, column.name, suffix))
            .table(meta.table)
            .col(tenant)
            .col(column.name);
        if column.unique {
            index.unique();
        }
        statements.push(dialect.render_schema(&index));
    }
    statements
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::meta::ColumnMeta;

    const fn column(name: &'static str, role: ColumnRole, unique: bool) -> ColumnMeta {
        ColumnMeta {
            name,
            role,
            column_type: || ColumnType::Text,
            declared_type: None,
            nullable: false,
            unique,
            indexed: false,
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

    #[test]
    // Regression (issue 11, hole 7): `{table}_{column}_key` collided across tables.
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
}
