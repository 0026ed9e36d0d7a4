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

mod expr;

use sqlparser::ast::{
    BinaryOperator, Delete, Expr, FromTable, Ident, Insert, JoinConstraint, JoinOperator,
    ObjectName, ObjectNamePart, OnConflictAction, OnInsert, Query, Select, SelectItem, SetExpr,
    Statement, TableAlias, TableFactor, TableObject, TableWithJoins, Update, UpdateTableFromKind,
    Value,
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
    let last = spans.last().unwrap_or(first);
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
struct Names(Vec<(String, Span)>);

/// The result of the walk.
pub(crate) struct Walked {
    pub(crate) columns: Vec<ColumnRef>,
    pub(crate) errors: Vec<Error>,
    /// How many entity and tenant column markers the rewritten statement holds.
    pub(crate) markers: usize,
    pub(crate) returns_rows: bool,
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
        }
    }

    fn query(&mut self, query: &mut Query, outer: &Scope<'_>) {
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
                    "a data-modifying statement inside a query (`WITH x AS (DELETE ..)`) is not checked",
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

    /// One FROM item and its joins; returns the predicates that belong in the WHERE.
    fn table_with_joins(
        &mut self,
        twj: &mut TableWithJoins,
        scope: &Scope<'_>,
        force_all: bool,
        names: &mut Names,
    ) -> Vec<Expr> {
        // The relations up to the last FULL join, or up to a RIGHT join without an ON to hold
        // their restriction, become restricted derived tables.
        let cutoff = twj
            .joins
            .iter()
            .enumerate()
            .filter(|(_, j)| match &j.join_operator {
                JoinOperator::FullOuter(_) => true,
                JoinOperator::Right(c) | JoinOperator::RightOuter(c) => {
                    !matches!(c, JoinConstraint::On(_))
                }
                _ => false,
            })
            .map(|(k, _)| k + 1)
            .max();
        let forced = |position: usize| force_all || cutoff.is_some_and(|c| position <= c);
        let mut pending = self.relation(&mut twj.relation, scope, forced(0), names);
        for (k, join) in twj.joins.iter_mut().enumerate() {
            let position = k + 1;
            let left_without_on = matches!(
                &join.join_operator,
                JoinOperator::Left(c) | JoinOperator::LeftOuter(c) if !matches!(c, JoinConstraint::On(_))
            );
            if join.global {
                self.refuse(
                    Span::empty(),
                    "`GLOBAL JOIN` is not checked",
                    "write a plain JOIN",
                );
            }
            let predicates = self.relation(
                &mut join.relation,
                scope,
                forced(position) || left_without_on,
                names,
            );
            match &mut join.join_operator {
                JoinOperator::Join(c) | JoinOperator::Inner(c) | JoinOperator::CrossJoin(c) => {
                    self.constraint(c, scope);
                    pending.extend(predicates);
                }
                JoinOperator::Left(c) | JoinOperator::LeftOuter(c) => {
                    self.constraint(c, scope);
                    self.add_to_on(c, predicates);
                }
                JoinOperator::Right(c) | JoinOperator::RightOuter(c) => {
                    self.constraint(c, scope);
                    let left = std::mem::replace(&mut pending, predicates);
                    self.add_to_on(c, left);
                }
                JoinOperator::FullOuter(c) => {
                    self.constraint(c, scope);
                    // Everything here was forced into derived tables.
                    if !pending.is_empty() || !predicates.is_empty() {
                        self.refuse(Span::empty(), "a FULL join over a parenthesised join of entities is not checked", "write the parenthesised join as a subquery");
                    }
                    pending.clear();
                }
                _ => self.refuse(
                    Span::empty(),
                    "this join kind (SEMI, ANTI, APPLY, ASOF, ARRAY, STRAIGHT_JOIN) is not checked",
                    "write JOIN, LEFT JOIN, RIGHT JOIN, FULL JOIN or CROSS JOIN, or NOT EXISTS for an anti-join",
                ),
            }
        }
        pending
    }

    fn constraint(&mut self, constraint: &mut JoinConstraint, scope: &Scope<'_>) {
        match constraint {
            JoinConstraint::On(e) => self.expr(e, scope),
            JoinConstraint::Using(columns) => {
                for name in columns.iter() {
                    for part in &name.0 {
                        if let ObjectNamePart::Identifier(ident) = part {
                            self.column(ident);
                        }
                    }
                }
            }
            JoinConstraint::UsingAlias(..) => self.refuse(
                Span::empty(),
                "`USING (..) AS alias` is not checked",
                "write `USING (..)`",
            ),
            JoinConstraint::Natural | JoinConstraint::None => {}
        }
    }

    fn add_to_on(&mut self, constraint: &mut JoinConstraint, predicates: Vec<Expr>) {
        if predicates.is_empty() {
            return;
        }
        match constraint {
            JoinConstraint::On(e) => {
                let user = std::mem::replace(e, Expr::Value(Value::Null.with_empty_span()));
                if let Some(joined) = conjoin(Some(user), predicates) {
                    *e = joined;
                }
            }
            // Callers force derived tables wherever there is no ON; reaching here would drop a
            // restriction, so refuse.
            _ => self.refuse(
                Span::empty(),
                "the tenant restriction of an outer join needs an ON clause",
                "write the join condition as `ON a.x = b.x`",
            ),
        }
    }

    /// One relation; returns the predicates to place where this relation's rows are filtered.
    fn relation(
        &mut self,
        factor: &mut TableFactor,
        scope: &Scope<'_>,
        force_derived: bool,
        names: &mut Names,
    ) -> Vec<Expr> {
        match factor {
            TableFactor::Table {
                name,
                alias,
                args,
                with_hints,
                version,
                with_ordinality,
                partitions,
                json_path,
                sample,
                index_directives,
                inheritance,
            } => {
                let span = span_of_name(name);
                if !with_hints.is_empty()
                    || version.is_some()
                    || *with_ordinality
                    || !partitions.is_empty()
                    || json_path.is_some()
                    || sample.is_some()
                    || !index_directives.is_empty()
                    || inheritance.is_some()
                {
                    self.refuse(
                        span,
                        "table hints, ONLY, TABLESAMPLE, partitions and time travel are not checked",
                        "name the table alone",
                    );
                }
                let Some(ident) = single_ident(name).cloned() else {
                    self.refuse(
                        span,
                        format!("`{name}` is schema-qualified: it is not a tenant entity, a CTE or a shared table"),
                        HELP_NAME_IT,
                    );
                    return Vec::new();
                };
                if let Some(entity) = entity_marker(&ident) {
                    if args.is_some() {
                        self.refuse(
                            span,
                            "an entity is a table, not a table function",
                            "remove the arguments",
                        );
                    }
                    self.markers += 1;
                    let alias = match alias {
                        Some(alias) => {
                            if !alias.columns.is_empty() {
                                self.refuse(
                                    alias.name.span,
                                    "column aliases on an entity would rename its tenant column",
                                    "alias the columns in the select list: `SELECT i.id AS invoice_id`",
                                );
                            }
                            alias.name.clone()
                        }
                        None => {
                            let private = self.private_alias();
                            *alias = Some(TableAlias {
                                explicit: true,
                                name: private.clone(),
                                columns: Vec::new(),
                                at: None,
                            });
                            private
                        }
                    };
                    self.name(names, &alias);
                    if force_derived {
                        self.markers -= 1;
                        let subquery = self.restricted_subquery(entity);
                        let alias = alias_of(factor);
                        *factor = TableFactor::Derived {
                            lateral: false,
                            subquery,
                            alias,
                            sample: None,
                        };
                        return Vec::new();
                    }
                    return vec![self.predicate(alias, entity)];
                }
                if let Some(args) = args {
                    if self.is_shared(&ident) {
                        for arg in &mut args.args {
                            self.function_arg(arg, scope);
                        }
                    } else {
                        self.refuse(
                            span,
                            format!("table function `{ident}` may read any tenant's rows"),
                            HELP_NAME_IT,
                        );
                    }
                    self.alias_name(names, alias.as_ref(), &ident);
                    return Vec::new();
                }
                match scope.lookup(&ident) {
                    CteLookup::Found(binding) => {
                        let private = binding.private.clone();
                        if alias.is_none() {
                            *alias = Some(TableAlias {
                                explicit: true,
                                name: ident.clone(),
                                columns: Vec::new(),
                                at: None,
                            });
                        }
                        *name = ObjectName(vec![ObjectNamePart::Identifier(Ident::new(private))]);
                        self.alias_name(names, alias.as_ref(), &ident);
                    }
                    CteLookup::Ambiguous => self.refuse(
                        span,
                        format!("`{ident}` matches a CTE only when case is ignored: PostgreSQL and SQLite would read different tables"),
                        "spell the name exactly as the CTE does",
                    ),
                    CteLookup::None if self.is_shared(&ident) => {
                        self.alias_name(names, alias.as_ref(), &ident);
                    }
                    CteLookup::None => self.refuse(
                        span,
                        format!("`{ident}` is not a tenant entity, a CTE in scope or a shared table"),
                        HELP_NAME_IT,
                    ),
                }
                Vec::new()
            }
            TableFactor::Derived {
                subquery,
                alias,
                sample,
                ..
            } => {
                if sample.is_some() {
                    self.refuse(Span::empty(), "TABLESAMPLE is not checked", "remove it");
                }
                self.query(subquery, scope);
                if let Some(alias) = alias {
                    self.name(names, &alias.name);
                    for column in &alias.columns {
                        self.column(&column.name);
                    }
                }
                Vec::new()
            }
            TableFactor::NestedJoin {
                table_with_joins,
                alias,
            } => {
                // An alias hides the inner relations' names, so their restrictions must stay
                // inside.
                let force = force_derived || alias.is_some();
                let predicates = self.table_with_joins(table_with_joins, scope, force, names);
                if let Some(alias) = alias {
                    self.name(names, &alias.name);
                }
                predicates
            }
            TableFactor::UNNEST {
                alias,
                array_exprs,
                with_offset_alias,
                ..
            } => {
                for e in array_exprs {
                    self.expr(e, scope);
                }
                if with_offset_alias.is_some() {
                    self.refuse(
                        Span::empty(),
                        "UNNEST .. WITH OFFSET is not checked",
                        "remove WITH OFFSET",
                    );
                }
                if let Some(alias) = alias {
                    self.name(names, &alias.name);
                }
                Vec::new()
            }
            TableFactor::Function {
                name, args, alias, ..
            } => {
                let shared = single_ident(name)
                    .cloned()
                    .filter(|ident| self.is_shared(ident));
                match shared {
                    Some(ident) => {
                        for arg in args {
                            self.function_arg(arg, scope);
                        }
                        self.alias_name(names, alias.as_ref(), &ident);
                    }
                    None => self.refuse(
                        span_of_name(name),
                        format!("table function `{name}` may read any tenant's rows"),
                        HELP_NAME_IT,
                    ),
                }
                Vec::new()
            }
            _ => {
                self.refuse(
                    Span::empty(),
                    "this FROM item (table function, JSON_TABLE, PIVOT, ..) is not checked",
                    HELP_NAME_IT,
                );
                Vec::new()
            }
        }
    }

    fn is_shared(&self, ident: &Ident) -> bool {
        self.options.shared.iter().any(|shared| {
            if ident.quote_style.is_some() {
                *shared == ident.value
            } else {
                shared.eq_ignore_ascii_case(&ident.value)
            }
        })
    }

    fn alias_name(&mut self, names: &mut Names, alias: Option<&TableAlias>, name: &Ident) {
        match alias {
            Some(alias) => self.name(names, &alias.name),
            None => self.name(names, name),
        }
    }

    fn name(&mut self, names: &mut Names, ident: &Ident) {
        let key = ident.value.to_lowercase();
        if let Some((_, first)) = names.0.iter().find(|(k, _)| *k == key) {
            let first = *first;
            let _ = first;
            self.refuse(
                ident.span,
                format!("two relations are named `{}` in the same FROM", ident.value),
                "give each relation its own alias, so the tenant restriction applies to exactly one",
            );
            return;
        }
        names.0.push((key, ident.span));
    }

    fn target_entity(&mut self, factor: &mut TableFactor, what: &str) -> Option<(usize, Ident)> {
        if let TableFactor::Table {
            name,
            alias,
            args: None,
            ..
        } = factor
            && let Some(entity) = single_ident(name).and_then(entity_marker)
        {
            self.markers += 1;
            // SQLite reads an alias of an UPDATE or DELETE target only after AS.
            if let Some(alias) = alias {
                alias.explicit = true;
            }
            let alias = match alias {
                Some(alias) if alias.columns.is_empty() => alias.name.clone(),
                Some(alias) => {
                    self.refuse(
                        alias.name.span,
                        "column aliases on an entity would rename its tenant column",
                        "remove the column list",
                    );
                    alias.name.clone()
                }
                None => {
                    let private = self.private_alias();
                    *alias = Some(TableAlias {
                        explicit: true,
                        name: private.clone(),
                        columns: Vec::new(),
                        at: None,
                    });
                    private
                }
            };
            return Some((entity, alias));
        }
        let span = match factor {
            TableFactor::Table { name, .. } => span_of_name(name),
            _ => Span::empty(),
        };
        self.refuse(
            span,
            format!(
                "the target of {what} must be a tenant entity (shared tables are read-only here)"
            ),
            "name the entity: `{Invoice}`",
        );
        None
    }

    fn returning(&mut self, returning: &mut Option<Vec<SelectItem>>, scope: &Scope<'_>) {
        if let Some(items) = returning {
            self.select_items(items, scope);
        }
    }

    fn update(&mut self, update: &mut Update, scope: &Scope<'_>) {
        if !update.table.joins.is_empty()
            || update.or.is_some()
            || !update.order_by.is_empty()
            || update.limit.is_some()
            || update.output.is_some()
            || update.on_cluster.is_some()
            || update.settings.is_some()
            || !update.optimizer_hints.is_empty()
        {
            self.refuse(Span::empty(), "this UPDATE form (joins in the target, OR .., ORDER BY, LIMIT, OUTPUT) is not checked", "write `UPDATE {Invoice} SET .. FROM .. WHERE ..`");
        }
        let mut names = Names::default();
        let target = self.target_entity(&mut update.table.relation, "UPDATE");
        if let Some((_, alias)) = &target {
            self.name(&mut names, alias);
        }
        let mut pending = Vec::new();
        match &mut update.from {
            Some(UpdateTableFromKind::AfterSet(from)) => {
                let lateral = from.iter().any(has_lateral);
                for twj in from {
                    pending.extend(self.table_with_joins(twj, scope, lateral, &mut names));
                }
            }
            Some(UpdateTableFromKind::BeforeSet(_)) => self.refuse(
                Span::empty(),
                "`UPDATE FROM .. SET` is not checked",
                "write `UPDATE {Invoice} SET .. FROM ..`",
            ),
            None => {}
        }
        for assignment in &mut update.assignments {
            self.assignment(assignment, scope);
        }
        if let Some(selection) = &mut update.selection {
            self.expr(selection, scope);
        }
        self.returning(&mut update.returning, scope);
        if let Some((entity, alias)) = target {
            let own = self.predicate(alias, entity);
            pending.insert(0, own);
        }
        update.selection = conjoin(update.selection.take(), pending);
    }

    fn assignment(&mut self, assignment: &mut sqlparser::ast::Assignment, scope: &Scope<'_>) {
        let targets: Vec<ObjectName> = match &assignment.target {
            sqlparser::ast::AssignmentTarget::ColumnName(name) => vec![name.clone()],
            sqlparser::ast::AssignmentTarget::Tuple(names) => names.clone(),
        };
        for name in &targets {
            for part in &name.0 {
                if let ObjectNamePart::Identifier(ident) = part {
                    self.column(ident);
                }
            }
        }
        self.expr(&mut assignment.value, scope);
    }

    fn delete(&mut self, delete: &mut Delete, scope: &Scope<'_>) {
        if !delete.tables.is_empty()
            || !delete.order_by.is_empty()
            || delete.limit.is_some()
            || delete.output.is_some()
            || delete.on_cluster.is_some()
            || delete.settings.is_some()
            || !delete.optimizer_hints.is_empty()
        {
            self.refuse(
                Span::empty(),
                "this DELETE form (several targets, ORDER BY, LIMIT, OUTPUT) is not checked",
                "write `DELETE FROM {Invoice} WHERE ..`",
            );
        }
        let from = match &mut delete.from {
            FromTable::WithFromKeyword(from) | FromTable::WithoutKeyword(from) => from,
        };
        let [twj] = from.as_mut_slice() else {
            self.refuse(
                Span::empty(),
                "DELETE must name exactly one table",
                "write `DELETE FROM {Invoice} WHERE ..`",
            );
            return;
        };
        if !twj.joins.is_empty() {
            self.refuse(
                Span::empty(),
                "joins in the DELETE target are not checked",
                "write `DELETE FROM {Invoice} WHERE ..`, joining in a subquery",
            );
        }
        let target = self.target_entity(&mut twj.relation, "DELETE");
        let mut names = Names::default();
        if let Some((_, alias)) = &target {
            self.name(&mut names, alias);
        }
        // SQLite has no DELETE .. USING: it becomes `WHERE EXISTS (SELECT 1 FROM <using> WHERE
        // <user condition>)`, the same rows on both backends, and the USING relations are
        // restricted as in any SELECT.
        if let Some(using) = delete.using.take() {
            let mut exists =
                match Parser::parse_sql(&PostgreSqlDialect {}, "SELECT 1").map(|mut s| s.pop()) {
                    Ok(Some(Statement::Query(query))) => query,
                    _ => {
                        self.refuse(
                            Span::empty(),
                            "internal error rewriting DELETE .. USING",
                            "report this",
                        );
                        return;
                    }
                };
            if let SetExpr::Select(select) = exists.body.as_mut() {
                select.from = using;
                select.selection = delete.selection.take();
                // The target's name is taken in the outer level; a USING relation of the same
                // name would shadow it inside the EXISTS.
                let outer = names;
                names = Names::default();
                let mut inner_names = Names(outer.0.clone());
                let lateral = select.from.iter().any(has_lateral);
                let mut pending = Vec::new();
                for twj in &mut select.from {
                    pending.extend(self.table_with_joins(twj, scope, lateral, &mut inner_names));
                }
                if let Some(selection) = &mut select.selection {
                    self.expr(selection, scope);
                }
                select.selection = conjoin(select.selection.take(), pending);
            }
            delete.selection = Some(Expr::Exists {
                subquery: exists,
                negated: false,
            });
        } else if let Some(selection) = &mut delete.selection {
            self.expr(selection, scope);
        }
        let _ = names;
        self.returning(&mut delete.returning, scope);
        if let Some((entity, alias)) = target {
            let own = self.predicate(alias, entity);
            delete.selection = conjoin(delete.selection.take(), vec![own]);
        }
    }

    fn insert(&mut self, insert: &mut Insert, scope: &Scope<'_>) {
        if insert.or.is_some()
            || insert.ignore
            || insert.replace_into
            || insert.overwrite
            || insert.partitioned.is_some()
            || !insert.after_columns.is_empty()
            || !insert.assignments.is_empty()
            || insert.by_name
            || insert.output.is_some()
            || insert.priority.is_some()
            || insert.insert_alias.is_some()
            || insert.settings.is_some()
            || insert.format_clause.is_some()
            || insert.multi_table_insert_type.is_some()
            || !insert.multi_table_into_clauses.is_empty()
            || !insert.multi_table_when_clauses.is_empty()
            || insert.multi_table_else_clause.is_some()
            || insert.has_table_keyword
            || !insert.optimizer_hints.is_empty()
            || insert.overriding.is_some()
        {
            self.refuse(
                Span::empty(),
                "this INSERT form (OR REPLACE/IGNORE, REPLACE INTO, SET .., OVERRIDING, ..) is not checked",
                "write `INSERT INTO {Invoice} (a, b) VALUES ($1, $2)`, with `ON CONFLICT (..) DO ..` for an upsert",
            );
        }
        let entity = match &insert.table {
            TableObject::TableName(name) => {
                match single_ident(name).and_then(entity_marker) {
                    Some(entity) => Some(entity),
                    None => {
                        self.refuse(span_of_name(name), format!("`{name}` is not a tenant entity: INSERT writes only into entities here"), "name the entity: `INSERT INTO {Invoice} (..)`");
                        None
                    }
                }
            }
            _ => {
                self.refuse(
                    Span::empty(),
                    "INSERT INTO a table function is not checked",
                    "name the entity: `INSERT INTO {Invoice} (..)`",
                );
                None
            }
        };
        let Some(entity) = entity else { return };
        self.markers += 1;
        let qualifier = match &insert.table_alias {
            Some(alias) => {
                self.alias_ident(&alias.alias);
                alias.alias.clone()
            }
            None => Ident::new(format!("{RESERVED}e{entity}__")),
        };
        if insert.columns.is_empty() {
            self.refuse(
                Span::empty(),
                "INSERT needs its column list, so the tenant column can be added to it",
                "list the columns: `INSERT INTO {Invoice} (id, total) VALUES ($1, $2)`",
            );
            return;
        }
        for name in &insert.columns {
            for part in &name.0 {
                if let ObjectNamePart::Identifier(ident) = part {
                    self.column(ident);
                }
            }
        }
        self.markers += 1;
        insert
            .columns
            .push(ObjectName(vec![ObjectNamePart::Identifier(Ident::new(
                format!("{RESERVED}c{entity}__"),
            ))]));
        match &mut insert.source {
            Some(source) => {
                self.query(source, scope);
                let tenant = self.tenant_value();
                if !append_tenant(&mut source.body, &tenant) {
                    self.refuse(
                        Span::empty(),
                        "the rows of this INSERT cannot be given the tenant column",
                        "insert from VALUES (..) or a SELECT",
                    );
                }
            }
            None => self.refuse(
                Span::empty(),
                "INSERT .. DEFAULT VALUES cannot be given the tenant column",
                "list the columns and VALUES",
            ),
        }
        match &mut insert.on {
            None => {}
            Some(OnInsert::OnConflict(conflict)) => {
                self.on_conflict(conflict, entity, qualifier, scope)
            }
            Some(_) => self.refuse(
                Span::empty(),
                "ON DUPLICATE KEY UPDATE is not checked",
                "write `ON CONFLICT (..) DO UPDATE SET ..`",
            ),
        }
        self.returning(&mut insert.returning, scope);
    }

    fn on_conflict(
        &mut self,
        conflict: &mut sqlparser::ast::OnConflict,
        entity: usize,
        qualifier: Ident,
        scope: &Scope<'_>,
    ) {
        match &mut conflict.conflict_target {
            Some(sqlparser::ast::ConflictTarget::Columns { columns, predicate }) => {
                for column in columns.iter() {
                    self.column(column);
                }
                if let Some(predicate) = predicate {
                    self.expr(predicate, scope);
                }
                // The conflict is looked up within the tenant: the arbiter index must
                // include the tenant column.
                self.markers += 1;
                columns.insert(0, Ident::new(format!("{RESERVED}c{entity}__")));
            }
            Some(sqlparser::ast::ConflictTarget::OnConstraint(name)) => self.refuse(
                span_of_name(name),
                "ON CONFLICT ON CONSTRAINT cannot be restricted to the tenant",
                "name the conflict columns: `ON CONFLICT (id) DO ..`",
            ),
            None => {
                if matches!(conflict.action, OnConflictAction::DoUpdate(_)) {
                    self.refuse(
                        Span::empty(),
                        "ON CONFLICT DO UPDATE needs its conflict columns",
                        "name them: `ON CONFLICT (id) DO UPDATE ..`",
                    );
                }
            }
        }
        if let OnConflictAction::DoUpdate(update) = &mut conflict.action {
            for assignment in &mut update.assignments {
                self.assignment(assignment, scope);
            }
            if let Some(selection) = &mut update.selection {
                self.expr(selection, scope);
            }
            let own = self.predicate(qualifier, entity);
            update.selection = conjoin(update.selection.take(), vec![own]);
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

fn alias_of(factor: &TableFactor) -> Option<TableAlias> {
    match factor {
        TableFactor::Table { alias, .. } => alias.clone(),
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

/// Appends `$T` to every row the INSERT's source produces.
fn append_tenant(body: &mut SetExpr, tenant: &Expr) -> bool {
    match body {
        SetExpr::Select(select) => {
            select
                .projection
                .push(SelectItem::UnnamedExpr(tenant.clone()));
            true
        }
        SetExpr::Values(values) => {
            for row in &mut values.rows {
                row.push(tenant.clone());
            }
            !values.rows.is_empty()
        }
        SetExpr::SetOperation { left, right, .. } => {
            append_tenant(left, tenant) && append_tenant(right, tenant)
        }
        SetExpr::Query(query) => append_tenant(&mut query.body, tenant),
        _ => false,
    }
}
