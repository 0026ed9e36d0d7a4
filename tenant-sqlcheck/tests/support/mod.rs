//! The tests' oracle: renders a checked statement with dummy names, parses it again with
//! sqlparser and proves, on the AST, that every entity reference is restricted to the tenant
//! where it is exact. It shares no code with the engine: the visitor of sqlparser finds every
//! relation, and the placement rules are re-derived here from the join semantics.
#![allow(dead_code, unreachable_pub)]

use std::ops::ControlFlow;

use sqlparser::ast::{
    BinaryOperator, Expr, FromTable, Ident, JoinConstraint, JoinOperator, ObjectName,
    ObjectNamePart, OnConflictAction, OnInsert, Select, SelectItem, SetExpr, Statement,
    TableFactor, TableObject, TableWithJoins, Value, Visit, Visitor,
};
use sqlparser::dialect::{PostgreSqlDialect, SQLiteDialect};
use sqlparser::parser::Parser;
use tenant_sqlcheck::{Checked, Options, Piece, check};

/// The table name written for entity `i`.
pub fn table(i: usize) -> String {
    format!("ent_{i}")
}

/// The tenant column written for entity `i`.
pub fn tenant_column(i: usize) -> String {
    format!("tcol_{i}")
}

/// The statement as the runtime would write it, with the given names.
pub fn render_with(
    checked: &Checked,
    table: impl Fn(usize) -> String,
    column: impl Fn(usize) -> String,
) -> String {
    checked
        .pieces
        .iter()
        .map(|piece| match piece {
            Piece::Sql(sql) => sql.clone(),
            Piece::Table(i) => format!("\"{}\"", table(*i)),
            Piece::TenantColumn(i) => format!("\"{}\"", column(*i)),
        })
        .collect()
}

pub fn render(checked: &Checked) -> String {
    render_with(checked, table, tenant_column)
}

/// Checks `sql` and verifies the result; returns the rendered SQL.
pub fn checked(sql: &str, args: usize, shared: &[&str]) -> String {
    let shared: Vec<String> = shared.iter().map(|s| s.to_string()).collect();
    let checked = check(
        sql,
        &Options {
            args,
            shared: &shared,
        },
    )
    .unwrap_or_else(|e| panic!("refused: {sql}\n{e:#?}"));
    let rendered = render(&checked);
    if let Err(reason) = verify(&rendered, args + 1) {
        panic!("not restricted: {reason}\n  sql: {sql}\n  rendered: {rendered}");
    }
    rendered
}

/// The errors of a refused statement.
pub fn refused(sql: &str, args: usize, shared: &[&str]) -> Vec<tenant_sqlcheck::Error> {
    let shared: Vec<String> = shared.iter().map(|s| s.to_string()).collect();
    match check(
        sql,
        &Options {
            args,
            shared: &shared,
        },
    ) {
        Ok(checked) => panic!("accepted: {sql}\n  rendered: {}", render(&checked)),
        Err(errors) => {
            for e in &errors {
                assert!(
                    e.span.end <= sql.len() && e.span.start <= e.span.end,
                    "bad span {e:?}"
                );
                assert!(!e.message.is_empty() && !e.help.is_empty());
                assert!(
                    !e.message.ends_with('.'),
                    "message ends with a period: {e:?}"
                );
            }
            errors
        }
    }
}

fn entity_of(name: &ObjectName) -> Option<usize> {
    match name.0.as_slice() {
        [ObjectNamePart::Identifier(ident)] => ident.value.strip_prefix("ent_")?.parse().ok(),
        _ => None,
    }
}

fn conjuncts(expr: &Expr) -> Vec<&Expr> {
    match expr {
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => {
            let mut out = conjuncts(left);
            out.extend(conjuncts(right));
            out
        }
        other => vec![other],
    }
}

fn same(a: &Ident, b: &Ident) -> bool {
    a.value.eq_ignore_ascii_case(&b.value)
}

/// Whether `expr` is `<qualifier>.tcol_i = $T` (or unqualified when `qualifier` is `None`).
fn is_restriction(expr: &Expr, qualifier: Option<&Ident>, entity: usize, param: &str) -> bool {
    let Expr::BinaryOp {
        left,
        op: BinaryOperator::Eq,
        right,
    } = expr
    else {
        return false;
    };
    let Expr::Value(v) = right.as_ref() else {
        return false;
    };
    if v.value != Value::Placeholder(param.to_owned()) {
        return false;
    }
    let column = tenant_column(entity);
    match (left.as_ref(), qualifier) {
        (Expr::CompoundIdentifier(idents), Some(q)) => {
            idents.len() == 2 && same(&idents[0], q) && idents[1].value == column
        }
        (Expr::Identifier(ident), None) => ident.value == column,
        _ => false,
    }
}

fn found_in(expr: Option<&Expr>, qualifier: Option<&Ident>, entity: usize, param: &str) -> bool {
    expr.is_some_and(|e| {
        conjuncts(e)
            .iter()
            .any(|c| is_restriction(c, qualifier, entity, param))
    })
}

/// A relation of a FROM level: the ON clauses where its restriction would be exact and safe,
/// and whether it reaches the level's WHERE without being made nullable.
struct Rel<'a> {
    factor: &'a TableFactor,
    ons: Vec<&'a Expr>,
    top: bool,
}

fn on_of(constraint: &JoinConstraint) -> Option<&Expr> {
    match constraint {
        JoinConstraint::On(e) => Some(e),
        _ => None,
    }
}

enum Kind {
    Inner,
    Left,
    Right,
    Full,
}

fn kind(op: &JoinOperator) -> Result<(Kind, Option<&Expr>), String> {
    Ok(match op {
        JoinOperator::Join(c) | JoinOperator::Inner(c) | JoinOperator::CrossJoin(c) => {
            (Kind::Inner, on_of(c))
        }
        JoinOperator::Left(c) | JoinOperator::LeftOuter(c) => (Kind::Left, on_of(c)),
        JoinOperator::Right(c) | JoinOperator::RightOuter(c) => (Kind::Right, on_of(c)),
        JoinOperator::FullOuter(c) => (Kind::Full, on_of(c)),
        other => return Err(format!("unexpected join {other:?}")),
    })
}

fn relations(twj: &TableWithJoins) -> Result<Vec<Rel<'_>>, String> {
    let mut positions: Vec<Vec<Rel<'_>>> = Vec::new();
    for factor in std::iter::once(&twj.relation).chain(twj.joins.iter().map(|j| &j.relation)) {
        positions.push(match factor {
            TableFactor::NestedJoin {
                table_with_joins,
                alias,
            } => {
                let mut inner = relations(table_with_joins)?;
                if alias.is_some() {
                    for rel in &mut inner {
                        rel.top = false;
                    }
                }
                inner
            }
            other => vec![Rel {
                factor: other,
                ons: Vec::new(),
                top: true,
            }],
        });
    }
    let kinds: Vec<(Kind, Option<&Expr>)> = twj
        .joins
        .iter()
        .map(|j| kind(&j.join_operator))
        .collect::<Result<_, _>>()?;
    let mut out = Vec::new();
    for (k, rels) in positions.into_iter().enumerate() {
        for mut rel in rels {
            if rel.top {
                let mut alive = true;
                for (m, (kind, on)) in kinds.iter().enumerate() {
                    let m = m + 1;
                    if m < k {
                        continue;
                    }
                    if m == k {
                        match kind {
                            Kind::Inner => rel.ons.extend(on.filter(|_| alive)),
                            Kind::Left => {
                                rel.ons.extend(*on);
                                alive = false;
                            }
                            Kind::Right => {}
                            Kind::Full => alive = false,
                        }
                    } else {
                        match kind {
                            Kind::Inner => rel.ons.extend(on.filter(|_| alive)),
                            Kind::Left => {}
                            Kind::Right => {
                                rel.ons.extend(on.filter(|_| alive));
                                alive = false;
                            }
                            Kind::Full => alive = false,
                        }
                    }
                }
                rel.top = alive;
            }
            out.push(rel);
        }
    }
    Ok(out)
}

fn name_of(factor: &TableFactor) -> Option<Ident> {
    match factor {
        TableFactor::Table { name, alias, .. } => match alias {
            Some(alias) => Some(alias.name.clone()),
            None => match name.0.last() {
                Some(ObjectNamePart::Identifier(ident)) => Some(ident.clone()),
                _ => None,
            },
        },
        TableFactor::Derived { alias, .. }
        | TableFactor::UNNEST { alias, .. }
        | TableFactor::Function { alias, .. } => alias.as_ref().map(|a| a.name.clone()),
        _ => None,
    }
}

struct Oracle {
    param: String,
    seen: usize,
    verified: usize,
    failures: Vec<String>,
}

impl Oracle {
    /// Every entity relation of one FROM level (plus the target of an UPDATE or DELETE).
    fn level(&mut self, rels: Vec<Rel<'_>>, selection: Option<&Expr>, what: &str) {
        let names: Vec<Ident> = rels.iter().filter_map(|r| name_of(r.factor)).collect();
        for (i, a) in names.iter().enumerate() {
            if names[..i].iter().any(|b| same(a, b)) {
                self.failures
                    .push(format!("{what}: two relations named {a}"));
            }
        }
        let single = rels.len() == 1;
        for rel in &rels {
            let TableFactor::Table { name, alias, .. } = rel.factor else {
                continue;
            };
            let Some(entity) = entity_of(name) else {
                continue;
            };
            let qualifier = name_of(rel.factor);
            let mut ok = rel
                .ons
                .iter()
                .any(|on| found_in(Some(on), qualifier.as_ref(), entity, &self.param))
                || (rel.top && found_in(selection, qualifier.as_ref(), entity, &self.param));
            // The restricted derived table: `SELECT * FROM ent_i WHERE tcol_i = $T`.
            if !ok && single && alias.is_none() && rel.top {
                ok = found_in(selection, None, entity, &self.param);
            }
            if ok {
                self.verified += 1;
            } else {
                self.failures.push(format!(
                    "{what}: entity {entity} ({}) is not restricted where exact",
                    qualifier.map(|q| q.value).unwrap_or_default()
                ));
            }
        }
    }

    fn rows_end_with_tenant(&self, body: &SetExpr) -> bool {
        let tenant = |e: &Expr| matches!(e, Expr::Value(v) if v.value == Value::Placeholder(self.param.clone()));
        match body {
            SetExpr::Select(select) => {
                matches!(select.projection.last(), Some(SelectItem::UnnamedExpr(e)) if tenant(e))
            }
            SetExpr::Values(values) => values.rows.iter().all(|row| row.last().is_some_and(tenant)),
            SetExpr::SetOperation { left, right, .. } => {
                self.rows_end_with_tenant(left) && self.rows_end_with_tenant(right)
            }
            SetExpr::Query(q) => self.rows_end_with_tenant(&q.body),
            _ => false,
        }
    }
}

impl Visitor for Oracle {
    type Break = ();

    fn pre_visit_relation(&mut self, relation: &ObjectName) -> ControlFlow<()> {
        if entity_of(relation).is_some() {
            self.seen += 1;
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_select(&mut self, select: &Select) -> ControlFlow<()> {
        let mut rels = Vec::new();
        for twj in &select.from {
            match relations(twj) {
                Ok(r) => rels.extend(r),
                Err(e) => self.failures.push(e),
            }
        }
        self.level(rels, select.selection.as_ref(), "SELECT");
        ControlFlow::Continue(())
    }

    fn pre_visit_statement(&mut self, statement: &Statement) -> ControlFlow<()> {
        match statement {
            Statement::Update(update) => {
                let mut rels = vec![Rel {
                    factor: &update.table.relation,
                    ons: Vec::new(),
                    top: true,
                }];
                if let Some(sqlparser::ast::UpdateTableFromKind::AfterSet(from)) = &update.from {
                    for twj in from {
                        match relations(twj) {
                            Ok(r) => rels.extend(r),
                            Err(e) => self.failures.push(e),
                        }
                    }
                }
                self.level(rels, update.selection.as_ref(), "UPDATE");
            }
            Statement::Delete(delete) => {
                let (FromTable::WithFromKeyword(from) | FromTable::WithoutKeyword(from)) =
                    &delete.from;
                let mut rels = Vec::new();
                for twj in from.iter().chain(delete.using.iter().flatten()) {
                    match relations(twj) {
                        Ok(r) => rels.extend(r),
                        Err(e) => self.failures.push(e),
                    }
                }
                self.level(rels, delete.selection.as_ref(), "DELETE");
            }
            Statement::Insert(insert) => {
                let TableObject::TableName(name) = &insert.table else {
                    self.failures.push("INSERT into a non-table".into());
                    return ControlFlow::Continue(());
                };
                let Some(entity) = entity_of(name) else {
                    return ControlFlow::Continue(());
                };
                let column = tenant_column(entity);
                let has_column = insert
                    .columns
                    .iter()
                    .any(|c| c.to_string().trim_matches('"') == column);
                let rows = insert
                    .source
                    .as_ref()
                    .is_some_and(|q| self.rows_end_with_tenant(&q.body));
                let conflict_ok = match &insert.on {
                    None => true,
                    Some(OnInsert::OnConflict(conflict)) => {
                        let target_ok = match &conflict.conflict_target {
                            Some(sqlparser::ast::ConflictTarget::Columns { columns, .. }) => {
                                columns.first().is_some_and(|c| c.value == column)
                            }
                            None => matches!(conflict.action, OnConflictAction::DoNothing),
                            _ => false,
                        };
                        let action_ok = match &conflict.action {
                            OnConflictAction::DoNothing => true,
                            OnConflictAction::DoUpdate(update) => {
                                let qualifier = match &insert.table_alias {
                                    Some(alias) => alias.alias.clone(),
                                    None => Ident::new(table(entity)),
                                };
                                found_in(
                                    update.selection.as_ref(),
                                    Some(&qualifier),
                                    entity,
                                    &self.param,
                                )
                            }
                        };
                        target_ok && action_ok
                    }
                    Some(_) => false,
                };
                if has_column && rows && conflict_ok {
                    self.verified += 1;
                } else {
                    self.failures.push(format!("INSERT into entity {entity}: column {has_column}, rows {rows}, conflict {conflict_ok}"));
                }
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

/// Proves every entity reference of `rendered` restricted to `$param`; the reason otherwise.
pub fn verify(rendered: &str, param: usize) -> Result<(), String> {
    // sqlparser's debug frames are large (see `tenant_sqlcheck::check`): a thread with room.
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .stack_size(256 * 1024 * 1024)
            .spawn_scoped(scope, || verify_here(rendered, param))
            .expect("a thread")
            .join()
            .unwrap_or_else(|_| Err("the oracle panicked".into()))
    })
}

fn verify_here(rendered: &str, param: usize) -> Result<(), String> {
    let mut statements = Parser::parse_sql(&PostgreSqlDialect {}, rendered)
        .or_else(|_| Parser::parse_sql(&SQLiteDialect {}, rendered))
        .map_err(|e| format!("the rendered SQL does not parse: {e}"))?;
    if statements.len() != 1 {
        return Err(format!("{} statements", statements.len()));
    }
    let statement = statements.remove(0);
    let mut oracle = Oracle {
        param: format!("${param}"),
        seen: 0,
        verified: 0,
        failures: Vec::new(),
    };
    let _ = statement.visit(&mut oracle);
    if !oracle.failures.is_empty() {
        return Err(oracle.failures.join("; "));
    }
    if oracle.seen != oracle.verified {
        return Err(format!(
            "{} entity references, {} restricted",
            oracle.seen, oracle.verified
        ));
    }
    Ok(())
}

/// How many restricted derived tables (`(SELECT * FROM ent_i WHERE tcol_i = $T) AS a`) the
/// rendered statement holds, found on its AST.
pub fn derived_tables(rendered: &str, param: usize) -> usize {
    struct Count(usize, String);
    impl Visitor for Count {
        type Break = ();
        fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
            if let TableFactor::Derived { subquery, .. } = factor
                && let SetExpr::Select(select) = subquery.body.as_ref()
                && let [twj] = select.from.as_slice()
                && twj.joins.is_empty()
                && let TableFactor::Table {
                    name, alias: None, ..
                } = &twj.relation
                && let Some(entity) = entity_of(name)
                && found_in(select.selection.as_ref(), None, entity, &self.1)
            {
                self.0 += 1;
            }
            ControlFlow::Continue(())
        }
    }
    let statement = parse_one(rendered);
    let mut count = Count(0, format!("${param}"));
    let _ = statement.visit(&mut count);
    count.0
}

/// Where the restriction of the relation named `alias` sits: `"where"`, `"on"` or `"none"`.
pub fn placement(rendered: &str, alias: &str, entity: usize, param: usize) -> &'static str {
    struct Find<'a>(&'a str, usize, String, &'static str);
    impl Visitor for Find<'_> {
        type Break = ();
        fn pre_visit_select(&mut self, select: &Select) -> ControlFlow<()> {
            let q = Ident::new(self.0);
            if found_in(select.selection.as_ref(), Some(&q), self.1, &self.2) {
                self.3 = "where";
            }
            for twj in &select.from {
                for join in &twj.joins {
                    if let Ok((_, Some(on))) = kind(&join.join_operator)
                        && found_in(Some(on), Some(&q), self.1, &self.2)
                    {
                        self.3 = "on";
                    }
                }
            }
            ControlFlow::Continue(())
        }
    }
    let statement = parse_one(rendered);
    let mut find = Find(alias, entity, format!("${param}"), "none");
    let _ = statement.visit(&mut find);
    find.3
}

pub fn parse_one(sql: &str) -> Statement {
    Parser::parse_sql(&PostgreSqlDialect {}, sql)
        .unwrap()
        .remove(0)
}

/// Every expression position a subquery can take, `TABLE_` standing for the subquery: the
/// tests put a plain table there (refused) and an entity (restricted).
pub const SUBQUERY_POSITIONS: &[&str] = &[
    "SELECT * FROM {A} a WHERE a.id IN (TABLE_)",
    "SELECT sum(a.x) OVER w FROM {A} a WINDOW w AS (PARTITION BY TABLE_)",
    "SELECT * FROM {A} a WHERE a.id = ANY (ARRAY(SELECT v FROM invoices))",
    "SELECT * FROM {A} a ORDER BY TABLE_",
    "SELECT * FROM {A} a LIMIT TABLE_",
    "SELECT * FROM {A} a OFFSET TABLE_",
    "SELECT * FROM {A} a FETCH FIRST TABLE_ ROWS ONLY",
    "SELECT a.x FROM {A} a GROUP BY ROLLUP ((a.x), (TABLE_))",
    "SELECT a.x FROM {A} a GROUP BY a.x HAVING count(*) > TABLE_",
    "SELECT DISTINCT ON (TABLE_) a.x FROM {A} a",
    "INSERT INTO {A} (x) VALUES (TABLE_)",
    "INSERT INTO {A} (x) VALUES (1) ON CONFLICT (x) WHERE TABLE_ DO NOTHING",
    "INSERT INTO {A} (x) VALUES (1) ON CONFLICT (x) DO UPDATE SET x = TABLE_",
    "INSERT INTO {A} (x) VALUES (1) ON CONFLICT (x) DO UPDATE SET x = 2 WHERE TABLE_ > 0",
    "INSERT INTO {A} (x) VALUES (1) RETURNING TABLE_",
    "UPDATE {A} SET x = TABLE_",
    "UPDATE {A} SET (x, y) = (TABLE_, 1)",
    "DELETE FROM {A} WHERE x = 1 RETURNING TABLE_",
    "DELETE FROM {A} a USING {B} b WHERE b.x = TABLE_",
    "SELECT * FROM {A} a JOIN {B} b ON b.id = TABLE_",
    "SELECT * FROM {A} a LEFT JOIN {B} b USING (id) WHERE a.x = TABLE_",
    "SELECT (WITH q AS (SELECT v FROM invoices) SELECT v FROM q)",
    "SELECT count(*) FILTER (WHERE a.x = TABLE_) FROM {A} a",
    "SELECT string_agg(a.s, ',' ORDER BY TABLE_) FROM {A} a",
    "SELECT * FROM {A} a WHERE a.x BETWEEN TABLE_ AND 2",
    "SELECT CASE WHEN TABLE_ = 1 THEN 1 ELSE TABLE_ END",
    "SELECT CASE TABLE_ WHEN 1 THEN 2 END",
    "SELECT * FROM unnest(ARRAY[TABLE_]) u",
    "SELECT * FROM (VALUES (TABLE_)) v(x)",
    "SELECT 1 FROM {A} a WHERE (a.x, a.y) IN (SELECT v, v FROM invoices)",
    "SELECT EXTRACT(year FROM TABLE_)",
    "SELECT * FROM {A} a WHERE a.x = SOME (SELECT v FROM invoices)",
    "SELECT * FROM {A} a WHERE a.x = ALL (SELECT v FROM invoices)",
    "SELECT * FROM {A} a WHERE a.x IS DISTINCT FROM TABLE_",
    "SELECT TABLE_::int",
    "SELECT CAST(TABLE_ AS int)",
    "SELECT TABLE_ COLLATE \"C\"",
    "SELECT * FROM {A} a WHERE a.data @> TABLE_",
    "SELECT ARRAY[TABLE_]",
    "SELECT 1 FROM {A} a WHERE a.x LIKE TABLE_",
    "SELECT 1 FROM {A} a WHERE a.x ILIKE 'a' ESCAPE TABLE_",
    "SELECT 1 FROM {A} a WHERE a.x SIMILAR TO TABLE_",
    "SELECT now() AT TIME ZONE TABLE_",
    "SELECT substring(TABLE_ FROM 1 FOR 2)",
    "SELECT substring('x' FROM TABLE_)",
    "SELECT trim(both TABLE_ FROM 'x')",
    "SELECT overlay('x' PLACING TABLE_ FROM 1)",
    "SELECT position(TABLE_ IN 'x')",
    "SELECT 1 FROM {A} a WHERE TABLE_ IS NULL",
    "SELECT 1 FROM {A} a WHERE TABLE_ IS NOT TRUE",
    "SELECT GREATEST(TABLE_, 2)",
    "SELECT coalesce(NULL, TABLE_)",
    "SELECT INTERVAL '1 day' * TABLE_",
    "SELECT TABLE_ IN (1, 2)",
    "SELECT json_build_object('k', TABLE_)",
    "SELECT * FROM {A} a WHERE a.x = (VALUES (TABLE_))",
    "SELECT NOT (TABLE_ = 1)",
    "SELECT -TABLE_",
    "SELECT (TABLE_, 1)",
    "SELECT row_number() OVER (ORDER BY TABLE_)",
    "SELECT sum(1) OVER (ROWS BETWEEN TABLE_ PRECEDING AND CURRENT ROW)",
    "SELECT EXISTS (SELECT 1 FROM {A} a WHERE a.x = TABLE_)",
    "SELECT 1 FROM {A} a WHERE a.x IN (1, TABLE_)",
    "SELECT * FROM {A} a, LATERAL (SELECT TABLE_) l",
    "SELECT * FROM {A} a CROSS JOIN (SELECT v FROM invoices UNION SELECT 1) u",
    "WITH c AS (SELECT 1) SELECT * FROM c WHERE TABLE_ = 1",
    "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < TABLE_) SELECT n FROM r",
    "SELECT 1 UNION SELECT TABLE_",
    "SELECT 1 INTERSECT SELECT v FROM invoices",
    "SELECT 1 EXCEPT SELECT v FROM invoices",
];
