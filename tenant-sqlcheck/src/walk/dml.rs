//! UPDATE, DELETE and INSERT: the target must be an entity; it is restricted in the WHERE,
//! and an INSERT gets the tenant column.

use sqlparser::ast::{
    Delete, Expr, FromTable, Ident, Insert, ObjectName, ObjectNamePart, OnConflictAction, OnInsert,
    SelectItem, SetExpr, Statement, TableAlias, TableFactor, TableObject, Update,
    UpdateTableFromKind,
};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::Span;

use super::{
    Names, Scope, Walker, conjoin, entity_marker, has_lateral, single_ident, span_of_name,
    user_alias,
};
use crate::placeholders::RESERVED;

impl Walker<'_> {
    pub(super) fn target_entity(
        &mut self,
        factor: &mut TableFactor,
        what: &str,
    ) -> Option<(usize, Ident)> {
        if let Some(alias) = user_alias(factor) {
            self.alias_ident(&alias.name);
        }
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

    pub(super) fn returning(&mut self, returning: &mut Option<Vec<SelectItem>>, scope: &Scope<'_>) {
        if let Some(items) = returning {
            self.select_items(items, scope);
        }
    }

    pub(super) fn update(&mut self, update: &mut Update, scope: &Scope<'_>) {
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

    pub(super) fn assignment(
        &mut self,
        assignment: &mut sqlparser::ast::Assignment,
        scope: &Scope<'_>,
    ) {
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

    pub(super) fn delete(&mut self, delete: &mut Delete, scope: &Scope<'_>) {
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
                let mut inner_names = Names(names.0.clone());
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
        self.returning(&mut delete.returning, scope);
        if let Some((entity, alias)) = target {
            let own = self.predicate(alias, entity);
            delete.selection = conjoin(delete.selection.take(), vec![own]);
        }
    }

    pub(super) fn insert(&mut self, insert: &mut Insert, scope: &Scope<'_>) {
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

    pub(super) fn on_conflict(
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
