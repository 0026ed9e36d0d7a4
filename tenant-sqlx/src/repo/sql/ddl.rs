//! The DDL of an entity's table: CREATE TABLE, its indexes (and their names) and foreign keys.

use sea_query::{ColumnDef, ColumnType, Expr, ForeignKey, Index, Table};

use crate::error::Error;
use crate::repo::dialect::Dialect;
use crate::repo::meta::{ColumnMeta, ColumnRole, EntityMeta};

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

/// Whether a column has an index of its own, led by the tenant: `#[unique]`, `#[index]`, and
/// `#[belongs_to]` (PostgreSQL does not index a foreign key's columns, and without an index
/// every delete of a parent scans the children).
pub(super) fn has_index(column: &ColumnMeta) -> bool {
    column.unique || column.indexed || column.references.is_some()
}

pub(super) fn index_suffix(column: &ColumnMeta) -> &'static str {
    if column.unique { "key" } else { "idx" }
}

/// Whether the table's primary key is the generated key alone, with a unique index on (tenant,
/// key) beside it: SQLite cannot generate a column of a composite primary key.
pub(super) fn key_alone_is_primary(meta: &EntityMeta, dialect: Dialect) -> bool {
    meta.key_generated() && dialect == Dialect::Sqlite
}

/// One index [`ddl`] creates: its name, whether it is unique, and its columns (the tenant's,
/// then the field's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IndexSpec {
    pub(crate) name: String,
    pub(crate) unique: bool,
    pub(crate) columns: [&'static str; 2],
}

impl IndexSpec {
    /// As an error message shows it: `UNIQUE (tenant_id, number)`.
    pub(crate) fn describe(&self) -> String {
        let unique = if self.unique { "UNIQUE " } else { "" };
        format!("{unique}({})", self.columns.join(", "))
    }
}

/// The entity's indexes, in the order [`ddl`] creates them.
pub(crate) fn indexes(meta: &EntityMeta, dialect: Dialect) -> Vec<IndexSpec> {
    let tenant = meta.tenant_column();
    let tenant_key = key_alone_is_primary(meta, dialect).then(|| IndexSpec {
        name: index_name(meta.table, meta.key_column(), "key"),
        unique: true,
        columns: [tenant, meta.key_column()],
    });
    tenant_key
        .into_iter()
        .chain(
            meta.columns
                .iter()
                .filter(|c| has_index(c))
                .map(|column| IndexSpec {
                    name: index_name(meta.table, column.name, index_suffix(column)),
                    unique: column.unique,
                    columns: [tenant, column.name],
                }),
        )
        .collect()
}

/// The names of the entity's indexes, in the order [`ddl`] creates them.
#[cfg(test)]
pub(crate) fn index_names(meta: &EntityMeta, dialect: Dialect) -> Vec<String> {
    indexes(meta, dialect).into_iter().map(|i| i.name).collect()
}

/// A PostgreSQL statement that fails unless `spec` exists as written on `meta`'s table: for a
/// migration file, where `CREATE INDEX IF NOT EXISTS` would skip an index whose name another
/// relation has, and no code runs after it to check. Names are plain identifiers (the macro
/// checks them), so they are written into the literals as they are. (`indkey` counts from 0;
/// `unnest` rebuilds it from 1, as `ARRAY[..]` does, for `=` to compare the columns alone.)
pub(crate) fn verify_index_sql(meta: &EntityMeta, spec: &IndexSpec) -> String {
    let table = format!("'\"{}\"'::regclass", meta.table);
    let columns = spec
        .columns
        .iter()
        .map(|column| {
            format!(
                "(SELECT attnum FROM pg_attribute WHERE attrelid = {table} AND attname = '{column}')"
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_index AS i \
         JOIN pg_class AS c ON c.oid = i.indexrelid \
         WHERE c.relname = '{name}' AND i.indrelid = {table} AND i.indisunique = {unique} \
         AND i.indpred IS NULL AND i.indisvalid \
         AND ARRAY(SELECT unnest(i.indkey::int2[])) = ARRAY[{columns}]::int2[]) \
         THEN RAISE EXCEPTION 'index {name} is not {expected} on {table_name}: another relation \
         has its name, or an index of another shape'; END IF; END $$",
        name = spec.name,
        unique = spec.unique,
        expected = spec.describe(),
        table_name = meta.table,
    )
}

/// What the catalog says about the relation that has an index's name, in the schema the
/// entity's table is (or will be) in: the backend's `relation_named` query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RelationFacts {
    /// `table`, `index`, `sequence`, `view`...
    pub(crate) kind: String,
    /// For an index: the table it is on.
    pub(crate) table: Option<String>,
    /// For an index: whether that table is the entity's.
    pub(crate) on_entity_table: Option<bool>,
    pub(crate) unique: Option<bool>,
    pub(crate) partial: Option<bool>,
    /// For an index: usable (PostgreSQL marks an interrupted `CREATE INDEX CONCURRENTLY`
    /// invalid).
    pub(crate) valid: Option<bool>,
    /// For an index: its columns in order, separated by `\u{1f}`, `?` for an expression.
    pub(crate) columns: Option<String>,
}

fn with_article(noun: &str) -> String {
    // "a unique": the vowel is sounded as "you".
    let article = if noun.starts_with(['a', 'e', 'i', 'o', 'u']) && !noun.starts_with("uni") {
        "an"
    } else {
        "a"
    };
    format!("{article} {noun}")
}

/// `Ok` when the relation named `spec.name` is absent (before the DDL: ours will be created) or
/// is exactly `spec` on `table`; otherwise the typed error that says what is there instead.
/// `IF NOT EXISTS` compares names only, so without this check a clash skips our index silently.
pub(crate) fn check_index(
    table: &'static str,
    spec: &IndexSpec,
    facts: Option<RelationFacts>,
) -> Result<(), Error> {
    let expected = spec.describe();
    let mismatch = |found: String| Error::IndexMismatch {
        index: spec.name.clone(),
        table,
        expected: expected.clone(),
        found,
    };
    let Some(facts) = facts else {
        return Ok(());
    };
    if facts.kind != "index" {
        return Err(mismatch(with_article(&facts.kind)));
    }
    if facts.on_entity_table != Some(true) {
        return Err(Error::IndexNameTaken {
            index: spec.name.clone(),
            table: facts.table.unwrap_or_default(),
        });
    }
    let columns: Vec<&str> = facts
        .columns
        .as_deref()
        .map(|c| c.split('\u{1f}').collect())
        .unwrap_or_default();
    let unique = facts.unique == Some(true);
    let partial = facts.partial == Some(true);
    let valid = facts.valid != Some(false);
    if columns != spec.columns || unique != spec.unique || partial || !valid {
        let mut words: Vec<&str> = Vec::new();
        words.extend((!valid).then_some("invalid"));
        words.extend(partial.then_some("partial"));
        words.extend(unique.then_some("unique"));
        words.push("index");
        let found = format!(
            "{} on ({})",
            with_article(&words.join(" ")),
            columns.join(", ")
        );
        return Err(mismatch(found));
    }
    Ok(())
}

/// The CHECK of the tenant column: the rules of `TenantId` (1 to 63 of `[a-z0-9-]`, no `-` at
/// either end), so no row can hold a tenant no context can name, the empty string among them
/// (what `current_setting(.., true)` reads on a connection after a tenant transaction).
pub(crate) fn tenant_id_check(column: &str, dialect: Dialect) -> String {
    const _: () = assert!(tenant_core::TENANT_ID_MAX_LEN == 63);
    match dialect {
        Dialect::Postgres => format!("\"{column}\" ~ '^[a-z0-9]([a-z0-9-]{{0,61}}[a-z0-9])?$'"),
        // SQLite has no regular expressions without an extension; GLOB is case-sensitive.
        Dialect::Sqlite => format!(
            "length(\"{column}\") BETWEEN 1 AND 63 AND \"{column}\" NOT GLOB '*[^a-z0-9-]*' \
             AND \"{column}\" NOT GLOB '-*' AND \"{column}\" NOT GLOB '*-'"
        ),
    }
}

/// CREATE TABLE and CREATE INDEX statements. The tenant column is NOT NULL and leads the primary
/// key and every index, so each tenant's rows are contiguous in every index and the table shards
/// by tenant on distributed PostgreSQL.
///
/// A generated key (`#[key(generated)]`) is `GENERATED BY DEFAULT AS IDENTITY` on PostgreSQL,
/// the primary key still (tenant, key). SQLite generates only the `INTEGER PRIMARY KEY` that
/// aliases the rowid, never a column of a composite key, so there the key alone is the primary
/// key (`INTEGER PRIMARY KEY AUTOINCREMENT`: never reused, even after a delete) and a unique
/// index on (tenant, key) leads with the tenant beside it. The trade-off: on SQLite the values
/// are unique across tenants and the table is clustered by key rather than by tenant.
///
/// A `#[belongs_to(Parent)]` column is a composite foreign key led by the tenant,
/// `FOREIGN KEY (tenant, column) REFERENCES parents (tenant, key)`, so a row can only point at a
/// parent of its own tenant, and it gets an index led by the tenant like an `#[index]` field.
/// The parent's (tenant, key) is its primary key, or on SQLite with a generated key the unique
/// index beside it, which a foreign key may reference as well. No `ON DELETE` action: deleting
/// a parent that still has children is refused (`NO ACTION`).
pub(crate) fn ddl(meta: &EntityMeta, dialect: Dialect) -> Vec<String> {
    let tenant = meta.tenant_column();
    let key_alone = key_alone_is_primary(meta, dialect);
    let mut table = Table::create();
    table.table(meta.table).if_not_exists();
    for column in meta.columns {
        let generated = column.generated && column.role == ColumnRole::Key;
        let column_type = if generated && key_alone {
            // Only the type name `INTEGER` makes the column the rowid.
            sea_query::ColumnType::Integer
        } else {
            column.ddl_type()
        };
        let mut def = ColumnDef::new_with_type(column.name, column_type);
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
        if column.role == ColumnRole::Tenant {
            def.check(Expr::cust(tenant_id_check(column.name, dialect)));
        }
        if generated {
            match dialect {
                Dialect::Sqlite => def.primary_key().auto_increment(),
                Dialect::Postgres => def.extra("GENERATED BY DEFAULT AS IDENTITY"),
            };
        }
        if let Some(default) = column.default {
            // The developer's SQL expression, from the entity's source (a string literal).
            def.default(Expr::cust(default));
        }
        table.col(def);
    }
    if !key_alone {
        table.primary_key(Index::create().col(tenant).col(meta.key_column()));
    }
    for (column, parent) in meta.foreign_keys() {
        table.foreign_key(
            ForeignKey::create()
                .name(index_name(meta.table, column.name, "fkey"))
                .from_tbl(meta.table)
                .from_col(tenant)
                .from_col(column.name)
                .to_tbl(parent.table)
                .to_col(parent.tenant_column())
                .to_col(parent.key_column()),
        );
    }

    let mut statements = vec![dialect.render_schema(&table)];
    if key_alone {
        let mut index = Index::create();
        index
            .if_not_exists()
            .unique()
            .name(index_name(meta.table, meta.key_column(), "key"))
            .table(meta.table)
            .col(tenant)
            .col(meta.key_column());
        statements.push(dialect.render_schema(&index));
    }
    for column in meta.columns.iter().filter(|c| has_index(c)) {
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
