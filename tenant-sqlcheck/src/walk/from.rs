//! FROM clauses: which relation may appear, and where each entity's restriction goes.

use sqlparser::ast::{
    Expr, Ident, JoinConstraint, JoinOperator, ObjectName, ObjectNamePart, TableAlias, TableFactor,
    TableWithJoins, Value,
};
use sqlparser::tokenizer::Span;

use super::{
    CteLookup, HELP_NAME_IT, Names, Scope, Walker, conjoin, entity_marker, single_ident,
    span_of_name, user_alias,
};

impl Walker<'_> {
    /// One FROM item and its joins; returns the predicates that belong in the WHERE.
    pub(super) fn table_with_joins(
        &mut self,
        twj: &mut TableWithJoins,
        scope: &Scope<'_>,
        force_all: bool,
        names: &mut Names,
    ) -> Vec<Expr> {
        // The relations up to the last FULL join, or left of a RIGHT join without an ON to
        // hold their restriction, become restricted derived tables.
        let cutoff = twj
            .joins
            .iter()
            .enumerate()
            .filter_map(|(k, j)| match &j.join_operator {
                JoinOperator::FullOuter(_) => Some(k + 1),
                // The right side of a RIGHT join is preserved: its restriction can still go to
                // the WHERE; only the left side needed the missing ON.
                JoinOperator::Right(c) | JoinOperator::RightOuter(c)
                    if !matches!(c, JoinConstraint::On(_)) =>
                {
                    Some(k)
                }
                _ => None,
            })
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

    pub(super) fn constraint(&mut self, constraint: &mut JoinConstraint, scope: &Scope<'_>) {
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

    pub(super) fn add_to_on(&mut self, constraint: &mut JoinConstraint, predicates: Vec<Expr>) {
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
    pub(super) fn relation(
        &mut self,
        factor: &mut TableFactor,
        scope: &Scope<'_>,
        force_derived: bool,
        names: &mut Names,
    ) -> Vec<Expr> {
        if let Some(alias) = user_alias(factor) {
            self.alias_ident(&alias.name);
            for column in &alias.columns {
                self.alias_ident(&column.name);
            }
        }
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

    pub(super) fn is_shared(&self, ident: &Ident) -> bool {
        self.options.shared.iter().any(|shared| {
            if ident.quote_style.is_some() {
                *shared == ident.value
            } else {
                shared.eq_ignore_ascii_case(&ident.value)
            }
        })
    }

    pub(super) fn alias_name(
        &mut self,
        names: &mut Names,
        alias: Option<&TableAlias>,
        name: &Ident,
    ) {
        match alias {
            Some(alias) => self.name(names, &alias.name),
            None => self.name(names, name),
        }
    }

    pub(super) fn name(&mut self, names: &mut Names, ident: &Ident) {
        let key = ident.value.to_lowercase();
        if names.0.contains(&key) {
            self.refuse(
                ident.span,
                format!("two relations are named `{}` in the same FROM", ident.value),
                "give each relation its own alias, so the tenant restriction applies to exactly one",
            );
            return;
        }
        names.0.push(key);
    }
}

fn alias_of(factor: &TableFactor) -> Option<TableAlias> {
    match factor {
        TableFactor::Table { alias, .. } => alias.clone(),
        _ => None,
    }
}
