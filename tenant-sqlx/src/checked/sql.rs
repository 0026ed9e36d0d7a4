//! The statement of one call site: the pieces the macro wrote, rendered once with the tables
//! and tenant columns of its entities.

use std::sync::OnceLock;

use crate::repo::meta::EntityMeta;

/// One piece of a checked statement, in order. Written by the checked query macros.
#[doc(hidden)]
#[derive(Debug, Clone, Copy)]
pub enum Piece {
    /// SQL text as is (the tenant parameter among it).
    Sql(&'static str),
    /// The table of the call site's entity at this index, double-quoted.
    Table(usize),
    /// The tenant column of the call site's entity at this index, double-quoted.
    TenantColumn(usize),
}

/// The statement of one call site, held in a `static` the macro emits: rendered on first use,
/// then the same `&'static str` for every call (sqlx caches the prepared statement by its text).
#[doc(hidden)]
#[derive(Debug)]
pub struct CheckedSql {
    pieces: &'static [Piece],
    entities: &'static [&'static EntityMeta],
    rendered: OnceLock<String>,
}

impl CheckedSql {
    /// The call site's statement. The macro checked at compile time that every `Table` and
    /// `TenantColumn` index is within `entities`.
    pub const fn new(pieces: &'static [Piece], entities: &'static [&'static EntityMeta]) -> Self {
        CheckedSql {
            pieces,
            entities,
            rendered: OnceLock::new(),
        }
    }

    /// The statement's text.
    pub fn sql(&'static self) -> &'static str {
        self.rendered
            .get_or_init(|| render(self.pieces, self.entities))
    }
}

fn render(pieces: &[Piece], entities: &[&EntityMeta]) -> String {
    let mut sql = String::new();
    for piece in pieces {
        // Table and column names are plain identifiers (checked by `#[tenant_scoped]`), so
        // double quotes need no escaping; quoted, a name is never read as a key word.
        let name = match *piece {
            Piece::Sql(text) => {
                sql.push_str(text);
                continue;
            }
            Piece::Table(i) => entities[i].table,
            Piece::TenantColumn(i) => entities[i].tenant_column(),
        };
        sql.push('"');
        sql.push_str(name);
        sql.push('"');
    }
    sql
}

/// Refuses, in const evaluation, a statement that names `entity`'s tenant column: the macro
/// emits one `const _: () = refuse_tenant_column(..)` per column the statement names and entity
/// it uses, because only `<E as Entity>::META` knows which column is the tenant's. `message`
/// is the whole compile error, its `help:` line included.
#[doc(hidden)]
pub const fn refuse_tenant_column(entity: &EntityMeta, column: &str, message: &str) {
    let tenant = entity.columns[entity.tenant].name;
    if tenant.eq_ignore_ascii_case(column) {
        panic!("{}", message);
    }
}

/// The value of a checked query whose macro reported errors: never called, since the crate does
/// not compile; its type keeps the code around the invocation free of errors of its own.
#[doc(hidden)]
pub fn refused<T>() -> T {
    unreachable!("a checked query with compile errors never runs")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::meta::{ColumnMeta, ColumnRole};

    static META: EntityMeta = EntityMeta {
        table: "invoices",
        columns: &[
            ColumnMeta::of::<i64>("id", ColumnRole::Key, false, false),
            ColumnMeta::of::<String>("tenant_id", ColumnRole::Tenant, false, false),
        ],
        key: 0,
        tenant: 1,
    };

    #[test]
    fn pieces_render_with_quoted_names() {
        let pieces = [
            Piece::Sql("SELECT count(*) FROM "),
            Piece::Table(0),
            Piece::Sql(" AS i WHERE i."),
            Piece::TenantColumn(0),
            Piece::Sql(" = $1"),
        ];
        assert_eq!(
            render(&pieces, &[&META]),
            r#"SELECT count(*) FROM "invoices" AS i WHERE i."tenant_id" = $1"#
        );
    }

    #[test]
    fn the_tenant_column_is_refused_whatever_its_case() {
        refuse_tenant_column(&META, "amount", "unreachable");
        let refused = std::panic::catch_unwind(|| refuse_tenant_column(&META, "TENANT_ID", "no"));
        assert!(refused.is_err());
    }
}
