//! The SQL dialects statements are rendered for: the bottom of the repository's layers,
//! below SQL building, the statement cache and the backends.

/// The SQL dialect a statement is rendered for.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite = 0,
    Postgres = 1,
}

pub(crate) const DIALECTS: usize = 2;

impl Dialect {
    pub(crate) fn render(self, statement: &impl sea_query::QueryStatementBuilder) -> String {
        match self {
            Dialect::Sqlite => statement.build_any(&sea_query::SqliteQueryBuilder).0,
            Dialect::Postgres => statement.build_any(&sea_query::PostgresQueryBuilder).0,
        }
    }

    pub(crate) fn render_schema(
        self,
        statement: &impl sea_query::SchemaStatementBuilder,
    ) -> String {
        match self {
            Dialect::Sqlite => statement.build(sea_query::SqliteQueryBuilder),
            Dialect::Postgres => statement.build(sea_query::PostgresQueryBuilder),
        }
    }
}
