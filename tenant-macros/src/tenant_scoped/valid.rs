//! Checks a parsed entity. Every problem is recorded, none stops the others from being found.

use quote::ToTokens;

use super::ast::{Entity, Field};
use super::sql_type;
use crate::ctxt::Ctxt;
use crate::ty;

/// The most fields a patch can carry: its set fields are a bit mask in a `u64`.
const MAX_PATCHABLE: usize = 64;

/// The table `SqlRegistry` keeps the tenants in (`tenant-sqlx/src/registry/backend.rs`,
/// `TABLE`). An entity on it would write tenant rows into the registry, or `CREATE TABLE IF NOT
/// EXISTS` would silently keep the registry's columns. Compared without regard to case: SQLite
/// does, even quoted.
const REGISTRY_TABLE: &str = "tenants";

/// What the expansion needs beyond the AST, known to be valid.
pub(crate) struct Valid {
    pub(crate) table: String,
    pub(crate) key: usize,
    pub(crate) tenant: usize,
}

/// Every rule in turn, each reporting what it finds; `None` if any of the facts the expansion
/// needs is missing.
pub(crate) fn check(cx: &mut Ctxt, entity: &Entity<'_>) -> Option<Valid> {
    check_generics(cx, entity);
    let table = check_table(cx, entity);
    check_column_names(cx, entity);
    let tenant = single(cx, entity, |f| f.attrs.tenant.is_some(), Role::Tenant);
    let key = single(cx, entity, |f| f.attrs.key.is_some(), Role::Key);
    check_column_types(cx, entity, tenant);
    if let Some(tenant) = tenant {
        check_tenant_field(cx, &entity.fields[tenant]);
    }
    if let Some(key) = key {
        check_key_field(cx, &entity.fields[key]);
    }
    check_parents(cx, entity, tenant, key);
    check_defaults(cx, entity, tenant, key);
    if let Some(key) = key {
        check_generated_key(cx, entity, &entity.fields[key]);
    }
    check_patch_width(cx, entity);
    Some(Valid {
        table: table?,
        key: key?,
        tenant: tenant?,
    })
}

/// A table has one row type.
fn check_generics(cx: &mut Ctxt, entity: &Entity<'_>) {
    let generics = &entity.input.generics;
    if !generics.params.is_empty() || generics.where_clause.is_some() {
        cx.error_with_help(
            generics,
            "#[tenant_scoped] does not support generic structs",
            "a table has one row type: remove the generic parameters",
        );
    }
}

/// The table name is given, never guessed, and lands in SQL as written: a plain identifier.
fn check_table(cx: &mut Ctxt, entity: &Entity<'_>) -> Option<String> {
    match &entity.table {
        Some(table) => {
            let value = table.value();
            if value.eq_ignore_ascii_case(REGISTRY_TABLE) {
                cx.error_with_help(
                    table,
                    format!(
                        "table name {value:?} is the tenant registry's own table: its rows say which tenants exist"
                    ),
                    format!(
                        "name the entity's table something else, e.g. `table = \"{}\"`",
                        snake_plural(&entity.input.ident.to_string())
                    ),
                );
                None
            } else if is_sql_identifier(&value) {
                Some(value)
            } else {
                cx.error_with_help(
                    table,
                    format!("table name {value:?} is not a plain SQL identifier"),
                    "use ASCII letters, digits and '_', not starting with a digit, at most 63 bytes",
                );
                None
            }
        }
        None if entity.arguments_reported => None,
        None => {
            cx.error_at(
                proc_macro2::Span::call_site(),
                "#[tenant_scoped] needs the table name",
                format!(
                    "write `#[tenant_scoped(table = \"{}\")]`",
                    snake_plural(&entity.input.ident.to_string())
                ),
            );
            None
        }
    }
}

/// A declared type lands in `CREATE TABLE` as written: a type name alone. A constraint there
/// would not lead with the tenant (`TEXT UNIQUE` is unique across tenants, so one tenant could
/// probe another's values through conflicts), so each is refused with the attribute that says it.
fn check_column_types(cx: &mut Ctxt, entity: &Entity<'_>, tenant: Option<usize>) {
    for (i, field) in entity.fields.iter().enumerate() {
        // The tenant column takes no type at all: `check_tenant_field` says so.
        if Some(i) == tenant {
            continue;
        }
        let Some(ddl_type) = &field.attrs.column_args.ddl_type else {
            continue;
        };
        if let Err(refusal) = sql_type::check(&ddl_type.value()) {
            cx.error_with_help(ddl_type, refusal.message, refusal.help);
        }
    }
}

/// Column names land in SQL as written: plain identifiers.
fn check_column_names(cx: &mut Ctxt, entity: &Entity<'_>) {
    for field in &entity.fields {
        if !is_sql_identifier(&field.column) {
            cx.error_with_help(
                field.ident,
                format!("field `{}` is not a plain SQL identifier", field.column),
                "use ASCII letters, digits and '_' in field names",
            );
        }
    }
}

/// The tenant column is the validated `TenantId`, leads every key and index, and is nothing else.
fn check_tenant_field(cx: &mut Ctxt, field: &Field<'_>) {
    if !ty::is_tenant_id(field.ty) {
        cx.error_with_help(
            field.ty,
            format!(
                "the #[tenant] field `{}` must have type `TenantId`, not `{}`",
                field.ident,
                field.ty.to_token_stream()
            ),
            format!(
                "declare it as `#[tenant] {}: tenant::TenantId`",
                field.ident
            ),
        );
    }
    if let Some(attr) = field.attrs.key {
        cx.error_with_help(
            attr,
            "the #[tenant] field cannot also be the #[key]",
            "the key identifies a row within its tenant: put #[key] on another field",
        );
    }
    reject_index_attributes(
        cx,
        field,
        "the #[tenant] field is already the first column of every index",
    );
    if let Some(attr) = field.attrs.belongs_to {
        cx.error_with_help(
            attr,
            "the #[tenant] field cannot be a #[belongs_to] field",
            "every #[belongs_to] foreign key already leads with the tenant column: put \
             #[belongs_to(..)] on the field that holds the parent's key",
        );
    }
    if let Some(ddl_type) = &field.attrs.column_args.ddl_type {
        cx.error_with_help(
            ddl_type,
            "the #[tenant] column's type is fixed: it is the validated `TenantId`, stored as text",
            "remove `type`",
        );
    }
}

/// The key is a NOT NULL primary key column of its own, already unique and indexed.
fn check_key_field(cx: &mut Ctxt, field: &Field<'_>) {
    if ty::option_inner(field.ty).is_some() {
        cx.error_with_help(
            field.ty,
            "the #[key] field cannot be an `Option`: primary key columns are NOT NULL",
            "use the inner type",
        );
    }
    reject_index_attributes(
        cx,
        field,
        "the #[key] field is already unique per tenant and indexed",
    );
    if let Some(attr) = field.attrs.belongs_to {
        cx.error_with_help(
            attr,
            "the #[key] field cannot be a #[belongs_to] field",
            "the key identifies this row: add a separate field for the parent's key, \
             e.g. `#[belongs_to(Customer)] customer_id: i64`",
        );
    }
}

/// `#[unique]` and `#[index]` on a field whose index exists anyway.
fn reject_index_attributes(cx: &mut Ctxt, field: &Field<'_>, message: &str) {
    for attr in [field.attrs.unique, field.attrs.index]
        .into_iter()
        .flatten()
    {
        cx.error_with_help(attr, message, "remove this attribute");
    }
}

/// `BelongsTo<Parent>` is implemented once per parent: two fields naming the same parent would
/// leave `with_parent` no way to choose.
fn check_parents(cx: &mut Ctxt, entity: &Entity<'_>, tenant: Option<usize>, key: Option<usize>) {
    let mut parents: Vec<String> = Vec::new();
    for (i, field) in entity.fields.iter().enumerate() {
        let Some(parent) = &field.attrs.parent else {
            continue;
        };
        // Already reported as a #[belongs_to] on the tenant or key field.
        if Some(i) == tenant || Some(i) == key {
            continue;
        }
        let text = parent.to_token_stream().to_string();
        if parents.contains(&text) {
            cx.error_with_help(
                parent,
                format!("a second #[belongs_to({text})] field"),
                format!(
                    "an entity belongs to `{text}` through one field; keep #[belongs_to({text})] on one of them"
                ),
            );
        } else {
            parents.push(text);
        }
    }
}

/// The tenant column is filled from the `TenantCtx` and a key is given or generated: neither
/// takes a column default.
fn check_defaults(cx: &mut Ctxt, entity: &Entity<'_>, tenant: Option<usize>, key: Option<usize>) {
    for (i, field) in entity.fields.iter().enumerate() {
        let Some(default) = &field.attrs.column_args.default else {
            continue;
        };
        if Some(i) == tenant {
            cx.error_with_help(
                default,
                "the #[tenant] field cannot have a default: its value is the `TenantCtx`'s tenant",
                "remove `default`",
            );
        } else if Some(i) == key {
            cx.error_with_help(
                default,
                "the #[key] field cannot have a column default",
                "for a key the database generates, write `#[key(generated)]` instead",
            );
        }
    }
}

/// A database generates integer keys only.
fn check_generated_key(cx: &mut Ctxt, entity: &Entity<'_>, key: &Field<'_>) {
    if key.attrs.generated.is_some() && !ty::is_integer(key.ty) {
        cx.error_with_help(
            key.ty,
            format!(
                "a generated #[key] must be an integer, not `{}`",
                key.ty.to_token_stream()
            ),
            format!(
                "declare it as `#[key(generated)] {}: i64` (or `i32`, `i16`), or remove \
                 `generated` and give the key in `New{}`",
                key.ident, entity.input.ident
            ),
        );
    }
}

/// A patch's set fields are a bit mask in a `u64`.
fn check_patch_width(cx: &mut Ctxt, entity: &Entity<'_>) {
    let patchable = entity.fields.len().saturating_sub(2);
    if patchable > MAX_PATCHABLE {
        cx.error_with_help(
            &entity.input.ident,
            format!("{patchable} data fields; #[tenant_scoped] supports at most {MAX_PATCHABLE}"),
            "split the table",
        );
    }
}

#[derive(Clone, Copy)]
enum Role {
    Tenant,
    Key,
}

/// The one field that has `role`, reporting none or several.
fn single(
    cx: &mut Ctxt,
    entity: &Entity<'_>,
    has_role: impl Fn(&Field<'_>) -> bool,
    role: Role,
) -> Option<usize> {
    let marked: Vec<usize> = (0..entity.fields.len())
        .filter(|&i| has_role(&entity.fields[i]))
        .collect();
    let name = &entity.input.ident;
    let misspelled = entity.fields.iter().any(|f| match role {
        Role::Tenant => f.attrs.near_tenant,
        Role::Key => f.attrs.near_key,
    });
    let unmarked_tenant_id = entity.fields.iter().find(|f| ty::is_tenant_id(f.ty));
    match (marked.as_slice(), role) {
        ([one], _) => return Some(*one),
        // The misspelling was reported with a suggestion; "missing" would only repeat it.
        ([], _) if misspelled => {}
        ([], Role::Tenant) if unmarked_tenant_id.is_some() => {
            let field = unmarked_tenant_id.map(|f| f.ident);
            cx.error_with_help(
                field,
                format!("`{name}` has no #[tenant] field, so its rows could not be scoped to a tenant"),
                format!("mark `{}` with #[tenant]", field.map(ToString::to_string).unwrap_or_default()),
            );
        }
        ([], Role::Tenant) => cx.error_with_help(
            name,
            format!("`{name}` has no #[tenant] field, so its rows could not be scoped to a tenant"),
            "add a field `#[tenant] tenant_id: tenant::TenantId`",
        ),
        ([], Role::Key) => cx.error_with_help(
            name,
            format!("`{name}` has no #[key] field"),
            "mark the field that identifies a row within its tenant with #[key], e.g. `#[key] id: i64`",
        ),
        ([_, rest @ ..], Role::Tenant) => {
            for &extra in rest {
                cx.error_with_help(
                    entity.fields[extra].attrs.tenant,
                    "a second #[tenant] field: a row belongs to exactly one tenant",
                    "keep #[tenant] on one field",
                );
            }
        }
        ([_, rest @ ..], Role::Key) => {
            for &extra in rest {
                cx.error_with_help(
                    entity.fields[extra].attrs.key,
                    "a second #[key] field: composite keys are not supported",
                    "keep #[key] on one field; mark other identifying columns #[unique]",
                );
            }
        }
    }
    None
}

fn is_sql_identifier(name: &str) -> bool {
    let mut bytes = name.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_');
    first_ok && name.len() <= 63 && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn snake_plural(name: &str) -> String {
    let mut snake = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            snake.push('_');
        }
        snake.push(c.to_ascii_lowercase());
    }
    snake.push('s');
    snake
}
