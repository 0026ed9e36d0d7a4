//! The rewrite: every entity reference gets its tenant restriction, every other relation must
//! be a CTE in scope or a declared shared table, and anything else is refused.
//!
//! Placement (the crate docs state the rules for users): a relation's restriction goes where
//! the relation's own rows are filtered without changing what the join preserves:
//! - FROM items and inner/cross joins: ANDed to the WHERE, outside the user's condition;
//! - the right side of a LEFT join: ANDed to that join's ON;
//! - everything left of a RIGHT join (not already placed in an ON): ANDed to the RIGHT join's
//!   ON, since those relations are its nullable side;
//! - relations under a FULL join, a join with USING/NATURAL whose ON would be needed, an aliased
//!   parenthesised join, and every entity of a FROM clause with LATERAL: replaced by the derived
//!   table `(SELECT * FROM <table> WHERE <tenant column> = $T) AS alias`.

mod dml;
mod expr;
mod from;

use sqlparser::ast::{
    BinaryOperator, Expr, Ident, ObjectName, ObjectNamePart, Query, Select, SelectItem, SetExpr,
    Statement, TableAlias, TableFactor, TableWithJoins, Value,
};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::Span;

use crate::placeholders::{RESERVED, SpanMap};
use crate::{ColumnRef, Error, Options};

const HELP_NAME_IT: &str =
    "name the entity: `{Invoice}`, or declare the table shared: `shared(countries)`";

/// A CTE visible in a scope: the user's name and the private name it is renamed to, so it can
/// never collide with an entity's table name (unknown until run time).
struct CteBinding {
    name: Ident,
    private: String,
}

/// The CTEs visible at a point of the statement, innermost last.
#[derive(Default)]
pub(crate) struct Scope<'s> {
    ctes: Vec<CteBinding>,
    parent: Option<&'s Scope<'s>>,
}

/// PostgreSQL's reading of an identifier: unquoted names fold to lower case.
fn normalized(ident: &Ident) -> String {
    if ident.quote_style.is_some() {
        ident.value.clone()
    } else {
        ident.value.to_lowercase()
    }
}

enum CteLookup<'s> {
    Found(&'s CteBinding),
    /// The names match case-insensitively (SQLite's reading) but not in PostgreSQL's.
    Ambiguous,
    None,
}

impl Scope<'_> {
    fn lookup(&self, name: &Ident) -> CteLookup<'_> {
        for binding in self.ctes.iter().rev() {
            if binding.name.value.eq_ignore_ascii_case(&name.value) {
                return if normalized(&binding.name) == normalized(name) {
                    CteLookup::Found(binding)
                } else {
                    CteLookup::Ambiguous
                };
            }
        }
        match self.parent {
            Some(parent) => parent.lookup(name),
            None => CteLookup::None,
        }
    }
}

/// The index of the entity a marker identifier stands for.
pub(crate) fn entity_marker(ident: &Ident) -> Option<usize> {
    if ident.quote_style.is_some() {
        return None;
    }
    ident
        .value
        .strip_prefix(RESERVED)?
        .strip_prefix('e')?
        .strip_suffix("__")?
        .parse()
        .ok()
}

fn single_ident(name: &ObjectName) -> Option<&Ident> {
    match name.0.as_slice() {
        [ObjectNamePart::Identifier(ident)] => Some(ident),
        _ => None,
    }
}

fn span_of_name(name: &ObjectName) -> Span {
    let mut spans = name.0.iter().filter_map(|part| match part {
        ObjectNamePart::Identifier(ident) => Some(ident.span),
        ObjectNamePart::Function(_) => None,
    });
    let first = spans.next().unwrap_or(Span::empty());
    let last = spans.next_back().unwrap_or(first);
    Span::new(first.start, last.end)
}

fn and(left: Expr, right: Expr) -> Expr {
    Expr::BinaryOp {
        left: Box::new(left),
        op: BinaryOperator::And,
        right: Box::new(right),
    }
}

/// `(user) AND p1 AND p2 ..`, the user's condition parenthesised so no OR of theirs can reach
/// past it.
fn conjoin(user: Option<Expr>, predicates: Vec<Expr>) -> Option<Expr> {
    let mut out = user.map(|e| Expr::Nested(Box::new(e)));
    for p in predicates {
        out = Some(match out {
            Some(e) => and(e, p),
            None => p,
        });
    }
    out
}

/// The names of the relations of one FROM level, to refuse two with the same name: the
/// injected `alias.tenant = $T` must bind to exactly one.
#[derive(Default)]
struct Names(Vec<String>);

/// The result of the walk.
pub(crate) struct Walked {
    pub(crate) columns: Vec<ColumnRef>,
    pub(crate) errors: Vec<Error>,
    /// How many entity and tenant column markers the rewritten statement holds.
    pub(crate) markers: usize,
    pub(crate) returns_rows: bool,
    /// Whether the statement writes: INSERT, UPDATE, DELETE, or a locking clause anywhere.
    pub(crate) writes: bool,
}

pub(crate) struct Walker<'a> {
    options: &'a Options<'a>,
    map: &'a SpanMap,
    tenant_param: String,
    next_alias: usize,
    next_cte: usize,
    columns: Vec<ColumnRef>,
    errors: Vec<Error>,
    markers: usize,
    used_args: Vec<bool>,
    locks: bool,
}

impl<'a> Walker<'a> {
    pub(crate) fn new(options: &'a Options<'a>, map: &'a SpanMap) -> Self {
        Self {
            options,
            map,
            tenant_param: format!("${}", options.args + 1),
            next_alias: 0,
            next_cte: 0,
            columns: Vec::new(),
            errors: Vec::new(),
            markers: 0,
            used_args: vec![false; options.args],
            locks: false,
        }
    }

    fn refuse(&mut self, span: Span, message: impl Into<String>, help: impl Into<String>) {
        self.errors.push(Error {
            span: self.map.span(span),
            message: message.into(),
            help: help.into(),
        });
    }

    fn column(&mut self, ident: &Ident) {
        if ident.value.to_ascii_lowercase().contains(RESERVED) {
            self.refuse(
                ident.span,
                "an entity placeholder names a table, not a column or an alias",
                "give the entity an alias (`FROM {Invoice} i`) and qualify columns by it: `i.id`",
            );
            return;
        }
        let mut span = self.map.span(ident.span);
        if ident.quote_style.is_some() && span.len() >= 2 {
            span = span.start + 1..span.end - 1;
        }
        self.columns.push(ColumnRef {
            name: ident.value.clone(),
            span,
        });
    }

    fn tenant_value(&self) -> Expr {
        Expr::Value(Value::Placeholder(self.tenant_param.clone()).with_empty_span())
    }

    /// `qualifier.<tenant column of entity> = $T`.
    fn predicate(&mut self, qualifier: Ident, entity: usize) -> Expr {
        // The tenant column's marker, and the table's when it qualifies the column.
        self.markers += 1 + usize::from(entity_marker(&qualifier).is_some());
        Expr::BinaryOp {
            left: Box::new(Expr::CompoundIdentifier(vec![
                qualifier,
                Ident::new(format!("{RESERVED}c{entity}__")),
            ])),
            op: BinaryOperator::Eq,
            right: Box::new(self.tenant_value()),
        }
    }

    /// `(SELECT * FROM <table> WHERE <tenant column> = $T)`, restricted inside.
    fn restricted_subquery(&mut self, entity: usize) -> Box<Query> {
        let sql = format!(
            "SELECT * FROM {RESERVED}e{entity}__ WHERE {RESERVED}c{entity}__ = {}",
            self.tenant_param
        );
        match Parser::parse_sql(&PostgreSqlDialect {}, &sql).map(|mut s| s.pop()) {
            Ok(Some(Statement::Query(query))) => {
                self.markers += 2;
                query
            }
            // The template is fixed text: this arm is unreachable, but a failure refuses
            // rather than panics.
            _ => {
                self.refuse(
                    Span::empty(),
                    "internal error building a restricted subquery",
                    "report this",
                );
                Box::new(Query {
                    with: None,
                    body: Box::new(SetExpr::Values(sqlparser::ast::Values {
                        explicit_row: false,
                        value_keyword: true,
                        rows: Vec::new(),
                    })),
                    order_by: None,
                    limit_clause: None,
                    fetch: None,
                    locks: Vec::new(),
                    for_clause: None,
                    settings: None,
                    format_clause: None,
                    pipe_operators: Vec::new(),
                })
            }
        }
    }

    fn private_alias(&mut self) -> Ident {
        self.next_alias += 1;
        Ident::new(format!("{RESERVED}a{}__", self.next_alias - 1))
    }

    pub(crate) fn statement(mut self, statement: &mut Statement) -> Walked {
        let scope = Scope::default();
        let reads = matches!(statement, Statement::Query(_));
        let returns_rows = match statement {
            Statement::Query(query) => {
                self.query(query, &scope);
                true
            }
            Statement::Insert(insert) => {
                self.insert(insert, &scope);
                insert.returning.is_some()
            }
            Statement::Update(update) => {
                self.update(update, &scope);
                update.returning.is_some()
            }
            Statement::Delete(delete) => {
                self.delete(delete, &scope);
                delete.returning.is_some()
            }
            other => {
                let kind = other.to_string();
                let kind: String = kind
                    .split_whitespace()
                    .take(2)
                    .collect::<Vec<_>>()
                    .join(" ");
                self.refuse(
                    Span::empty(),
                    format!("`{kind} ..` is not checked: only SELECT, INSERT, UPDATE and DELETE are"),
                    "run schema changes, session settings, COPY, CALL and transaction control outside the checked query macros",
                );
                false
            }
        };
        for (k, used) in self.used_args.iter().enumerate() {
            if !used {
                self.errors.push(Error {
                    span: 0..self.map.span(Span::empty()).end,
                    message: format!("argument ${} is never used in the SQL", k + 1),
                    help: format!("refer to every argument as `${}`, or remove it", k + 1),
                });
            }
        }
        Walked {
            columns: self.columns,
            errors: self.errors,
            markers: self.markers,
            returns_rows,
            writes: !reads || self.locks,
        }
    }

    fn query(&mut self, query: &mut Query, outer: &Scope<'_>) {
        // `FOR UPDATE`, `FOR SHARE` and the like lock rows for a write to come: a statement of
        // a transaction that writes, never of a read-only handle.
        self.locks |= !query.locks.is_empty();
        let mut scope = Scope {
            ctes: Vec::new(),
            parent: Some(outer),
        };
        if let Some(with) = &mut query.with {
            let bindings: Vec<CteBinding> = with
                .cte_tables
                .iter()
                .map(|cte| {
                    self.next_cte += 1;
                    CteBinding {
                        name: cte.alias.name.clone(),
                        private: format!("{RESERVED}w{}__", self.next_cte - 1),
                    }
                })
                .collect();
            for (i, cte) in with.cte_tables.iter_mut().enumerate() {
                self.alias_ident(&cte.alias.name);
                if cte.from.is_some() {
                    self.refuse(
                        cte.alias.name.span,
                        "`WITH .. FROM` is not checked",
                        "write a plain CTE",
                    );
                }
                // A recursive WITH sees all of its CTEs in every body; a plain one only those
                // before.
                let visible = if with.recursive { bindings.len() } else { i };
                let inner = Scope {
                    ctes: bindings[..visible]
                        .iter()
                        .map(|b| CteBinding {
                            name: b.name.clone(),
                            private: b.private.clone(),
                        })
                        .collect(),
                    parent: Some(outer),
                };
                self.query(&mut cte.query, &inner);
                for column in &cte.alias.columns {
                    self.column(&column.name);
                }
            }
            for (cte, binding) in with.cte_tables.iter_mut().zip(&bindings) {
                cte.alias.name = Ident::new(binding.private.clone());
            }
            scope.ctes = bindings;
        }
        self.set_expr(&mut query.body, &scope);
        if let Some(order_by) = &mut query.order_by {
            self.order_by(order_by, &scope);
        }
        if let Some(limit) = &mut query.limit_clause {
            match limit {
                sqlparser::ast::LimitClause::LimitOffset {
                    limit,
                    offset,
                    limit_by,
                } => {
                    if let Some(limit) = limit {
                        self.expr(limit, &scope);
                    }
                    if let Some(offset) = offset {
                        self.expr(&mut offset.value, &scope);
                    }
                    for e in limit_by {
                        self.expr(e, &scope);
                    }
                }
                sqlparser::ast::LimitClause::OffsetCommaLimit { offset, limit } => {
                    self.expr(offset, &scope);
                    self.expr(limit, &scope);
                }
            }
        }
        if let Some(fetch) = &mut query.fetch
            && let Some(quantity) = &mut fetch.quantity
        {
            self.expr(quantity, &scope);
        }
        if query.for_clause.is_some()
            || query.settings.is_some()
            || query.format_clause.is_some()
            || !query.pipe_operators.is_empty()
        {
            self.refuse(
                Span::empty(),
                "this query clause (FOR XML/JSON, SETTINGS, FORMAT, pipe operators) is not checked",
                "write the query with SELECT, FROM, WHERE, GROUP BY, HAVING, ORDER BY, LIMIT",
            );
        }
    }

    fn order_by(&mut self, order_by: &mut sqlparser::ast::OrderBy, scope: &Scope<'_>) {
        if let sqlparser::ast::OrderByKind::Expressions(exprs) = &mut order_by.kind {
            for e in exprs {
                self.expr(&mut e.expr, scope);
            }
        }
        if order_by.interpolate.is_some() {
            self.refuse(
                Span::empty(),
                "ORDER BY .. INTERPOLATE is not checked",
                "remove INTERPOLATE",
            );
        }
    }

    fn set_expr(&mut self, body: &mut SetExpr, scope: &Scope<'_>) {
        match body {
            SetExpr::Select(select) => self.select(select, scope),
            SetExpr::Query(query) => self.query(query, scope),
            SetExpr::SetOperation { left, right, .. } => {
                self.set_expr(left, scope);
                self.set_expr(right, scope);
            }
            SetExpr::Values(values) => {
                for row in &mut values.rows {
                    for e in row.iter_mut() {
                        self.expr(e, scope);
                    }
                }
            }
            SetExpr::Table(_) => self.refuse(
                Span::empty(),
                "`TABLE name` is not checked",
                "write `SELECT * FROM {Invoice}`",
            ),
            SetExpr::Insert(_) | SetExpr::Update(_) | SetExpr::Delete(_) | SetExpr::Merge(_) => {
                self.refuse(
                    Span::empty(),
                    "INSERT, UPDATE or DELETE inside a query (`WITH x AS (DELETE ..)`, `WITH .. UPDATE`) is not checked",
                    "run the INSERT, UPDATE or DELETE as its own checked query",
                )
            }
        }
    }

    fn select(&mut self, select: &mut Select, scope: &Scope<'_>) {
        let span = select.select_token.0.span;
        if select.into.is_some() {
            self.refuse(
                span,
                "`SELECT .. INTO` creates a table",
                "run DDL outside the checked query macros",
            );
        }
        if select.top.is_some()
            || !select.lateral_views.is_empty()
            || select.prewhere.is_some()
            || !select.connect_by.is_empty()
            || !select.cluster_by.is_empty()
            || !select.distribute_by.is_empty()
            || !select.sort_by.is_empty()
            || select.qualify.is_some()
            || select.value_table_mode.is_some()
            || select.exclude.is_some()
            || !select.optimizer_hints.is_empty()
            || select.select_modifiers.is_some()
        {
            self.refuse(
                span,
                "this SELECT uses a clause of another SQL dialect (TOP, QUALIFY, CONNECT BY, ..), which is not checked",
                "write the query in SQL that PostgreSQL and SQLite both run",
            );
        }
        if !matches!(select.flavor, sqlparser::ast::SelectFlavor::Standard) {
            self.refuse(
                span,
                "`FROM .. SELECT` is not checked",
                "write `SELECT .. FROM ..`",
            );
        }
        let lateral = select.from.iter().any(has_lateral);
        let mut names = Names::default();
        let mut pending = Vec::new();
        for twj in &mut select.from {
            pending.extend(self.table_with_joins(twj, scope, lateral, &mut names));
        }
        if let Some(sqlparser::ast::Distinct::On(exprs)) = &mut select.distinct {
            for e in exprs {
                self.expr(e, scope);
            }
        }
        self.select_items(&mut select.projection, scope);
        if let Some(selection) = &mut select.selection {
            self.expr(selection, scope);
        }
        match &mut select.group_by {
            sqlparser::ast::GroupByExpr::All(_) => {}
            sqlparser::ast::GroupByExpr::Expressions(exprs, _) => {
                for e in exprs {
                    self.expr(e, scope);
                }
            }
        }
        if let Some(having) = &mut select.having {
            self.expr(having, scope);
        }
        for window in &mut select.named_window {
            if let sqlparser::ast::NamedWindowExpr::WindowSpec(spec) = &mut window.1 {
                self.window_spec(spec, scope);
            }
        }
        select.selection = conjoin(select.selection.take(), pending);
    }

    fn select_items(&mut self, items: &mut [SelectItem], scope: &Scope<'_>) {
        for item in items {
            match item {
                SelectItem::UnnamedExpr(e) => self.expr(e, scope),
                SelectItem::ExprWithAlias { expr, alias } => {
                    self.alias_ident(alias);
                    self.expr(expr, scope);
                }
                SelectItem::ExprWithAliases { expr, aliases } => {
                    for alias in aliases.iter() {
                        self.alias_ident(alias);
                    }
                    self.expr(expr, scope);
                }
                SelectItem::QualifiedWildcard(kind, _) => match kind {
                    sqlparser::ast::SelectItemQualifiedWildcardKind::ObjectName(name) => {
                        for part in &name.0 {
                            if let ObjectNamePart::Identifier(ident) = part {
                                self.alias_ident(ident);
                            }
                        }
                    }
                    sqlparser::ast::SelectItemQualifiedWildcardKind::Expr(e) => self.expr(e, scope),
                },
                SelectItem::Wildcard(_) => {}
            }
        }
    }

    /// An alias or qualifier: never one of the engine's identifiers.
    fn alias_ident(&mut self, ident: &Ident) {
        if ident.value.to_ascii_lowercase().contains(RESERVED) {
            self.refuse(
                ident.span,
                "an entity placeholder names a table, not a column or an alias",
                "give the entity an alias (`FROM {Invoice} i`) and qualify columns by it: `i.id`",
            );
        }
    }

    /// Marks `$k` as used; refuses `?`, named and out-of-range placeholders.
    fn placeholder(&mut self, text: &str, span: Span) {
        let number = text.strip_prefix('$').and_then(|n| n.parse::<usize>().ok());
        match number {
            Some(k) if (1..=self.options.args).contains(&k) => self.used_args[k - 1] = true,
            Some(k) => self.refuse(
                span,
                format!("`${k}` has no argument: {} given", self.options.args),
                if self.options.args == 0 {
                    "pass the value as an argument after the SQL and write `$1`".to_owned()
                } else {
                    format!("use `$1` to `${}`, one per argument", self.options.args)
                },
            ),
            None => self.refuse(
                span,
                format!("`{text}` is not a `$N` placeholder"),
                "number the arguments: `$1`, `$2`, .. (both backends read them)",
            ),
        }
    }
}

/// The alias the user wrote on a FROM item.
fn user_alias(factor: &TableFactor) -> Option<&TableAlias> {
    match factor {
        TableFactor::Table { alias, .. }
        | TableFactor::Derived { alias, .. }
        | TableFactor::NestedJoin { alias, .. }
        | TableFactor::UNNEST { alias, .. }
        | TableFactor::Function { alias, .. } => alias.as_ref(),
        _ => None,
    }
}

fn has_lateral(twj: &TableWithJoins) -> bool {
    let lateral = |f: &TableFactor| match f {
        TableFactor::Derived { lateral, .. } | TableFactor::Function { lateral, .. } => *lateral,
        TableFactor::NestedJoin {
            table_with_joins, ..
        } => has_lateral(table_with_joins),
        _ => false,
    };
    lateral(&twj.relation) || twj.joins.iter().any(|j| lateral(&j.relation))
}
