//! Expressions: their columns are reported, their subqueries restricted like any query, and
//! the functions that change session state or read outside the statement refused.

use sqlparser::ast::{
    BinaryOperator, Expr, FunctionArg, FunctionArgExpr, FunctionArgumentClause, FunctionArguments,
    InTarget, ObjectNamePart, Value, WindowFrameBound, WindowSpec, WindowType,
};
use sqlparser::tokenizer::Span;

use super::{Scope, Walker, span_of_name};

/// Functions refused by name (compared case-insensitively, schema or not): they change session
/// or server state, run SQL given as a string (which no check sees), or read files and large
/// objects that belong to no tenant.
const REFUSED: &[&str] = &[
    "set_config",
    "setval",
    "ts_stat",
    "query_to_xml",
    "query_to_xmlschema",
    "query_to_xml_and_xmlschema",
    "cursor_to_xml",
    "cursor_to_xmlschema",
    "table_to_xml",
    "table_to_xmlschema",
    "table_to_xml_and_xmlschema",
    "schema_to_xml",
    "schema_to_xmlschema",
    "schema_to_xml_and_xmlschema",
    "database_to_xml",
    "database_to_xmlschema",
    "database_to_xml_and_xmlschema",
    "load_extension",
    "fts3_tokenizer",
    "readfile",
    "writefile",
    "edit",
    "sqlite_offset",
];

/// Prefixes refused: PostgreSQL's administration functions (`pg_read_file`,
/// `pg_terminate_backend`, `pg_advisory_lock`, ..), large objects, dblink.
const REFUSED_PREFIXES: &[&str] = &["pg_", "lo_", "dblink"];

/// `pg_` functions that only inspect their argument.
const ALLOWED_PG: &[&str] = &["pg_typeof"];

fn refused_function(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    REFUSED.contains(&name.as_str())
        || (REFUSED_PREFIXES.iter().any(|p| name.starts_with(p))
            && !ALLOWED_PG.contains(&name.as_str()))
}

impl Walker<'_> {
    pub(super) fn expr(&mut self, expr: &mut Expr, scope: &Scope<'_>) {
        match expr {
            Expr::Identifier(ident) => self.column(ident),
            Expr::CompoundIdentifier(idents) => {
                if let Some((last, qualifiers)) = idents.split_last() {
                    for q in qualifiers {
                        self.alias_ident(q);
                    }
                    self.column(last);
                }
            }
            Expr::CompoundFieldAccess { root, access_chain } => {
                self.expr(root, scope);
                for access in access_chain {
                    match access {
                        sqlparser::ast::AccessExpr::Dot(e) => self.expr(e, scope),
                        sqlparser::ast::AccessExpr::Subscript(sub) => self.subscript(sub, scope),
                    }
                }
            }
            Expr::JsonAccess { value, .. } => self.expr(value, scope),
            Expr::IsFalse(e)
            | Expr::IsNotFalse(e)
            | Expr::IsTrue(e)
            | Expr::IsNotTrue(e)
            | Expr::IsNull(e)
            | Expr::IsNotNull(e)
            | Expr::IsUnknown(e)
            | Expr::IsNotUnknown(e)
            | Expr::Nested(e)
            | Expr::UnaryOp { expr: e, .. }
            | Expr::Cast { expr: e, .. }
            | Expr::Extract { expr: e, .. }
            | Expr::Ceil { expr: e, .. }
            | Expr::Floor { expr: e, .. }
            | Expr::Collate { expr: e, .. }
            | Expr::Named { expr: e, .. }
            | Expr::Prefixed { value: e, .. }
            | Expr::IsJson { expr: e, .. }
            | Expr::IsNormalized { expr: e, .. } => self.expr(e, scope),
            Expr::IsDistinctFrom(a, b)
            | Expr::IsNotDistinctFrom(a, b)
            | Expr::AtTimeZone {
                timestamp: a,
                time_zone: b,
            }
            | Expr::Position { expr: a, r#in: b } => {
                self.expr(a, scope);
                self.expr(b, scope);
            }
            Expr::BinaryOp { left, op, right }
            | Expr::AnyOp {
                left,
                compare_op: op,
                right,
                ..
            }
            | Expr::AllOp {
                left,
                compare_op: op,
                right,
            } => {
                if matches!(
                    op,
                    BinaryOperator::Question
                        | BinaryOperator::QuestionAnd
                        | BinaryOperator::QuestionPipe
                ) {
                    self.refuse(Span::empty(), "`?` is read as a placeholder by SQLite and as a jsonb operator by PostgreSQL", "write `$1` for a placeholder, `jsonb_exists(a, b)` for the operator");
                }
                self.expr(left, scope);
                self.expr(right, scope);
            }
            Expr::In { expr, target, .. } => {
                self.expr(expr, scope);
                match target {
                    InTarget::List(list) => {
                        for e in list {
                            self.expr(e, scope);
                        }
                    }
                    InTarget::Subquery(query) => self.query(query, scope),
                    InTarget::Unnest(e) => self.expr(e, scope),
                    InTarget::Table { name, .. } => self.refuse(
                        span_of_name(name),
                        "`IN table` is not checked",
                        "write `IN (SELECT x FROM {Invoice})`",
                    ),
                }
            }
            Expr::Between {
                expr, low, high, ..
            } => {
                self.expr(expr, scope);
                self.expr(low, scope);
                self.expr(high, scope);
            }
            Expr::Like {
                expr,
                pattern,
                escape_char,
                ..
            }
            | Expr::ILike {
                expr,
                pattern,
                escape_char,
                ..
            }
            | Expr::SimilarTo {
                expr,
                pattern,
                escape_char,
                ..
            } => {
                self.expr(expr, scope);
                self.expr(pattern, scope);
                if let Some(e) = escape_char {
                    self.expr(e, scope);
                }
            }
            Expr::RLike { expr, pattern, .. } => {
                self.expr(expr, scope);
                self.expr(pattern, scope);
            }
            Expr::Convert { expr, styles, .. } => {
                self.expr(expr, scope);
                for e in styles {
                    self.expr(e, scope);
                }
            }
            Expr::Substring {
                expr,
                substring_from,
                substring_for,
                ..
            } => {
                self.expr(expr, scope);
                for e in [substring_from, substring_for].into_iter().flatten() {
                    self.expr(e, scope);
                }
            }
            Expr::Trim {
                expr,
                trim_what,
                trim_characters,
                ..
            } => {
                self.expr(expr, scope);
                if let Some(e) = trim_what {
                    self.expr(e, scope);
                }
                for e in trim_characters.iter_mut().flatten() {
                    self.expr(e, scope);
                }
            }
            Expr::Overlay {
                expr,
                overlay_what,
                overlay_from,
                overlay_for,
            } => {
                self.expr(expr, scope);
                self.expr(overlay_what, scope);
                self.expr(overlay_from, scope);
                if let Some(e) = overlay_for {
                    self.expr(e, scope);
                }
            }
            Expr::Value(value) => {
                if let Value::Placeholder(text) = &value.value {
                    let text = text.clone();
                    self.placeholder(&text, value.span);
                }
            }
            Expr::TypedString(_) | Expr::Wildcard(_) => {}
            Expr::QualifiedWildcard(name, _) => {
                for part in &name.0 {
                    if let ObjectNamePart::Identifier(ident) = part {
                        self.alias_ident(ident);
                    }
                }
            }
            Expr::Function(function) => {
                let last = function.name.0.last().and_then(|part| match part {
                    ObjectNamePart::Identifier(ident) => Some(ident.value.clone()),
                    ObjectNamePart::Function(_) => None,
                });
                match last {
                    Some(name) if refused_function(&name) => self.refuse(
                        span_of_name(&function.name),
                        format!("`{}` changes session or server state, or reads outside the tenant's rows", function.name),
                        "run it outside the checked query macros",
                    ),
                    Some(_) => {}
                    None => self.refuse(span_of_name(&function.name), "this function name is not checked", "call the function by its plain name"),
                }
                self.function_arguments(&mut function.parameters, scope);
                self.function_arguments(&mut function.args, scope);
                for e in &mut function.within_group {
                    self.expr(&mut e.expr, scope);
                }
                if let Some(filter) = &mut function.filter {
                    self.expr(filter, scope);
                }
                if let Some(WindowType::WindowSpec(spec)) = &mut function.over {
                    self.window_spec(spec, scope);
                }
            }
            Expr::Case {
                operand,
                conditions,
                else_result,
                ..
            } => {
                if let Some(e) = operand {
                    self.expr(e, scope);
                }
                for when in conditions {
                    self.expr(&mut when.condition, scope);
                    self.expr(&mut when.result, scope);
                }
                if let Some(e) = else_result {
                    self.expr(e, scope);
                }
            }
            Expr::Exists { subquery, .. } | Expr::Subquery(subquery) => self.query(subquery, scope),
            Expr::GroupingSets(sets) | Expr::Cube(sets) | Expr::Rollup(sets) => {
                for e in sets.iter_mut().flatten() {
                    self.expr(e, scope);
                }
            }
            Expr::Tuple(list) | Expr::Struct { values: list, .. } => {
                for e in list {
                    self.expr(e, scope);
                }
            }
            Expr::Array(array) => {
                for e in &mut array.elem {
                    self.expr(e, scope);
                }
            }
            Expr::Interval(interval) => self.expr(&mut interval.value, scope),
            _ => self.refuse(
                Span::empty(),
                "this expression (of another SQL dialect) is not checked",
                "write the expression in SQL that PostgreSQL and SQLite both run",
            ),
        }
    }

    fn subscript(&mut self, sub: &mut sqlparser::ast::Subscript, scope: &Scope<'_>) {
        match sub {
            sqlparser::ast::Subscript::Index { index } => self.expr(index, scope),
            sqlparser::ast::Subscript::Slice {
                lower_bound,
                upper_bound,
                stride,
            } => {
                for e in [lower_bound, upper_bound, stride].into_iter().flatten() {
                    self.expr(e, scope);
                }
            }
        }
    }

    fn function_arguments(&mut self, args: &mut FunctionArguments, scope: &Scope<'_>) {
        match args {
            FunctionArguments::None => {}
            FunctionArguments::Subquery(query) => self.query(query, scope),
            FunctionArguments::List(list) => {
                for arg in &mut list.args {
                    self.function_arg(arg, scope);
                }
                for clause in &mut list.clauses {
                    match clause {
                        FunctionArgumentClause::Where(e) | FunctionArgumentClause::Limit(e) => {
                            self.expr(e, scope)
                        }
                        FunctionArgumentClause::OrderBy(exprs) => {
                            for e in exprs {
                                self.expr(&mut e.expr, scope);
                            }
                        }
                        FunctionArgumentClause::IgnoreOrRespectNulls(_)
                        | FunctionArgumentClause::Separator(_)
                        | FunctionArgumentClause::OnOverflow(_) => {}
                        _ => self.refuse(
                            Span::empty(),
                            "this function argument clause is not checked",
                            "write the call in SQL that PostgreSQL and SQLite both run",
                        ),
                    }
                }
            }
        }
    }

    pub(super) fn function_arg(&mut self, arg: &mut FunctionArg, scope: &Scope<'_>) {
        let arg = match arg {
            FunctionArg::Named { arg, .. } => arg,
            FunctionArg::ExprNamed { name, arg, .. } => {
                self.expr(name, scope);
                arg
            }
            FunctionArg::Unnamed(arg) => arg,
        };
        match arg {
            FunctionArgExpr::Expr(e) => self.expr(e, scope),
            FunctionArgExpr::QualifiedWildcard(name) => {
                for part in &name.0 {
                    if let ObjectNamePart::Identifier(ident) = part {
                        self.alias_ident(ident);
                    }
                }
            }
            FunctionArgExpr::Wildcard | FunctionArgExpr::WildcardWithOptions(_) => {}
        }
    }

    pub(super) fn window_spec(&mut self, spec: &mut WindowSpec, scope: &Scope<'_>) {
        for e in &mut spec.partition_by {
            self.expr(e, scope);
        }
        for e in &mut spec.order_by {
            self.expr(&mut e.expr, scope);
        }
        if let Some(frame) = &mut spec.window_frame {
            for bound in std::iter::once(&mut frame.start_bound).chain(frame.end_bound.as_mut()) {
                if let WindowFrameBound::Preceding(Some(e)) | WindowFrameBound::Following(Some(e)) =
                    bound
                {
                    self.expr(e, scope);
                }
            }
        }
    }
}
