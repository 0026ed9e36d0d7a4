//! The databases a repository runs on, and the handles it runs through.

use sea_query::{Value, Values};

use super::dialect::Dialect;
use super::value::{Query, ValueIo};
use tenant_core::TenantId;

mod sealed {
    pub trait Sealed {}

    /// An argument only this crate can make: the hidden methods of `Conn` that hand out a
    /// transaction (which dereferences to `&mut Connection`) cannot be called from outside, so
    /// a `TenantTx`'s connection cannot be reached, and swapped, through them.
    #[derive(Debug, Clone, Copy)]
    pub struct Token(());

    impl Token {
        pub(crate) const fn new() -> Self {
            Token(())
        }
    }
}

pub(crate) use sealed::Token;

/// A database `tenant` repositories run on: `sqlx::Sqlite` (feature `sqlite`) and
/// `sqlx::Postgres` (feature `postgres`).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a database `tenant` repositories run on",
    label = "not sqlx 0.9's `Sqlite` or `Postgres`",
    note = "repositories run on sqlx 0.9's `sqlx::Sqlite` (feature `sqlite`) and `sqlx::Postgres` (feature `postgres`); a sqlx 0.8 type of the same name is another type: depend on `sqlx = \"0.9\"` (`cargo tree -i sqlx@0.8` shows who pulls in 0.8)"
)]
pub trait Backend:
    sqlx::Database<Arguments: sqlx::IntoArguments<Self>>
    + sqlx::database::HasStatementCache
    + sealed::Sealed
    + ValueIo
{
    #[doc(hidden)]
    const DIALECT: Dialect;

    /// The most placeholders one statement may have: SQLite's `SQLITE_MAX_VARIABLE_NUMBER` of
    /// the bundled build (32766), PostgreSQL's protocol limit (65535).
    #[doc(hidden)]
    const MAX_BINDS: usize;

    /// Binds one filter value after those already bound. The values a [`Filter`] holds come
    /// from the column types of [`SqlType`]; any other is an encoding error of the statement,
    /// never a panic.
    ///
    /// [`Filter`]: super::filter::Filter
    /// [`SqlType`]: super::meta::SqlType
    #[doc(hidden)]
    fn bind_value(query: Query<'_, Self>, value: Value) -> Result<Query<'_, Self>, Value>;

    /// The executor of a transaction begun by [`Conn::begin`].
    #[doc(hidden)]
    fn in_transaction<'c>(
        tx: &'c mut sqlx::Transaction<'_, Self>,
    ) -> impl sqlx::Executor<'c, Database = Self>;

    #[doc(hidden)]
    fn bind_tenant<'q>(query: Query<'q, Self>, tenant_id: &TenantId) -> Query<'q, Self>;

    /// Adds the tenant, as the repositories bind it (text), after the arguments of a checked
    /// query.
    #[doc(hidden)]
    fn add_tenant(
        args: &mut Self::Arguments,
        tenant_id: &TenantId,
    ) -> Result<(), sqlx::error::BoxDynError>;

    #[doc(hidden)]
    fn decode_count(row: &Self::Row) -> Result<i64, sqlx::Error>;

    #[doc(hidden)]
    fn decode_tenant(row: &Self::Row) -> Result<TenantId, sqlx::Error>;

    /// The relation named `name` in the schema of `table` (or where it will be created): its
    /// kind and, for an index, its table and shape. Decoded by `decode_relation`.
    #[doc(hidden)]
    fn relation_named<'q>(table: &'q str, name: &'q str) -> Query<'q, Self>;

    #[doc(hidden)]
    fn decode_relation(row: &Self::Row) -> Result<RelationRow, sqlx::Error>;

    #[doc(hidden)]
    fn rows_affected(result: &Self::QueryResult) -> u64;

    #[doc(hidden)]
    fn arguments_from(values: Values) -> Self::Arguments;

    #[doc(hidden)]
    fn decode_column<T>(row: &Self::Row, index: usize) -> Result<T, sqlx::Error>
    where
        T: for<'r> sqlx::Decode<'r, Self> + sqlx::Type<Self>;

    /// The statement that begins a tenant-bound transaction (see `TenantTx`).
    #[doc(hidden)]
    fn begin_tenant() -> String;
}

/// A pool, connection or transaction that a repository runs its statements through.
///
/// Implemented for `&Pool`, `Pool`, `&mut Transaction`, `&mut PoolConnection` and
/// `&mut <Connection>` of each enabled backend, so one repository type serves plain calls and
/// transactions alike:
///
/// ```
/// # use tenant::{tenant_scoped, Plan, TenantCtx, TenantId};
/// # #[tenant_scoped(table = "notes")]
/// # pub struct Note { #[key] pub id: i64, #[tenant] pub tenant_id: TenantId, pub body: String }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let ctx = TenantCtx::trusted("acme".parse()?, "tenant_acme".parse()?, Plan::Free);
/// let pool = sqlx::SqlitePool::connect("sqlite::memory:").await?;
/// NoteRepo::new(&pool).create_table().await?;
///
/// let mut tx = pool.begin().await?;
/// NoteRepo::new(&mut tx).insert(&ctx, NewNote { id: 1, body: "draft".into() }).await?;
/// tx.rollback().await?;
///
/// assert_eq!(NoteRepo::new(&pool).count(&ctx).await?, 0);
/// # Ok(())
/// # }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a pool, connection or transaction a `tenant` repository runs on",
    label = "not a sqlx 0.9 handle",
    note = "repositories run on sqlx 0.9's `&Pool`, `Pool`, `&mut Transaction`, `&mut PoolConnection` or `&mut` connection of SQLite (feature `sqlite`) or PostgreSQL (feature `postgres`), and on a `&mut TenantTx`",
    note = "a sqlx 0.8 pool has the same name but is another type: depend on `sqlx = \"0.9\"` (`cargo tree -i sqlx@0.8` shows who pulls in 0.8)"
)]
pub trait Conn: Send {
    /// The database behind the handle.
    type Database: Backend;

    #[doc(hidden)]
    fn executor(&mut self) -> impl sqlx::Executor<'_, Database = Self::Database>;

    /// The tenant the handle is bound to: a [`TenantTx`](crate::TenantTx)'s, `None` for the
    /// rest. A repository over a bound handle refuses every other tenant's context.
    #[doc(hidden)]
    fn bound_tenant(&self) -> Option<&TenantId> {
        None
    }

    /// Begins a transaction on the handle: on a pool, on a connection it acquires; on a
    /// transaction, a savepoint inside it.
    #[doc(hidden)]
    fn begin(
        &mut self,
        token: sealed::Token,
    ) -> impl Future<Output = Result<sqlx::Transaction<'_, Self::Database>, sqlx::Error>> + Send;
}

/// A [`Conn`] a repository may write through: every one but the read-only handle of
/// [`PoolSet::route`](crate::PoolSet::route) and [`PoolSet::repo`](crate::PoolSet::repo).
///
/// The write methods of [`Repo`](crate::Repo) (`insert`, `insert_many`, `upsert`, `update`,
/// `update_where`, `delete`, `delete_where`, and the DDL of `create_table` and
/// `row_level_security`) require it. A routed handle runs each statement on the tenant's pool,
/// outside any transaction, so nothing checks the placement fence: a process whose registry
/// cache still names the database the tenant left would write there after the move switched,
/// and the move's cleanup would delete the acknowledged row. A write through the pool set goes
/// through [`PoolSet::begin`](crate::PoolSet::begin), whose BEGIN checks the fence.
///
/// ```
/// use tenant::sqlx::{PlacementFence, PoolSet};
/// use tenant::{tenant_scoped, Plan, TenantCtx, TenantId, Tier};
/// # #[tenant_scoped(table = "notes")]
/// # pub struct Note { #[key] pub id: i64, #[tenant] pub tenant_id: TenantId, pub body: String }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let main = sqlx::SqlitePool::connect("sqlite::memory:").await?;
/// NoteRepo::new(&main).create_table().await?; // `&Pool`: a `WriteConn`
/// PlacementFence::new(&main).install().await?;
/// let acme = TenantCtx::trusted("acme".parse()?, "tenant_acme".parse()?, Plan::Free);
/// PlacementFence::new(&main).place(acme.tenant_id(), Tier::Shared, false).await?;
/// let pools = PoolSet::builder().database("main".parse()?, main).build()?;
///
/// // Writes: in the fenced transaction (`&mut TenantTx` is a `WriteConn`).
/// let mut tx = pools.begin(&acme).await?;
/// tx.repo::<Note>().insert(&acme, NewNote { id: 1, body: "hello".into() }).await?;
/// tx.commit().await?;
/// // Reads: through the routed handle too. `pools.repo::<Note>(&acme)?.insert(..)` does not
/// // compile.
/// assert_eq!(pools.repo::<Note>(&acme)?.count(&acme).await?, 1);
/// # Ok(())
/// # }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is read-only: a repository writes through it only inside a fenced transaction",
    label = "a routed handle runs each statement outside the placement fence",
    note = "a write through a routed handle could land in the database the tenant was moved from, and be deleted with its rows",
    note = "write in a transaction: `let mut tx = pools.begin(&ctx).await?;` then `tx.repo::<E>().insert(..)`, and `tx.commit()` (`PoolSet::begin` checks the placement fence in its BEGIN)"
)]
pub trait WriteConn: Conn {}

/// How a backend binds a decimal filter value.
#[cfg(feature = "decimal")]
trait BindDecimal: sqlx::Database {
    fn bind_decimal(
        query: Query<'_, Self>,
        value: Option<rust_decimal::Decimal>,
    ) -> Query<'_, Self>;
}

#[cfg(all(feature = "decimal", feature = "postgres"))]
impl BindDecimal for sqlx::Postgres {
    fn bind_decimal(
        query: Query<'_, Self>,
        value: Option<rust_decimal::Decimal>,
    ) -> Query<'_, Self> {
        query.bind(value)
    }
}

#[cfg(all(feature = "decimal", feature = "sqlite"))]
impl BindDecimal for sqlx::Sqlite {
    fn bind_decimal(
        query: Query<'_, Self>,
        value: Option<rust_decimal::Decimal>,
    ) -> Query<'_, Self> {
        query.bind(value.map(|d| d.to_string()))
    }
}

/// A row of `relation_named`: kind, table, on the entity's table, unique, partial, valid,
/// columns (see `RelationFacts`).
pub(crate) type RelationRow = (
    String,
    Option<String>,
    Option<bool>,
    Option<bool>,
    Option<bool>,
    Option<bool>,
    Option<String>,
);

macro_rules! backend {
    (
        $feature:literal,
        $db:ty,
        $connection:ty,
        $dialect:expr,
        max_binds: $max_binds:literal,
        relation_named: $relation_named:literal,
        begin_tenant: $begin_tenant:expr $(,)?
    ) => {
        #[cfg(feature = $feature)]
        impl sealed::Sealed for $db {}

        #[cfg(feature = $feature)]
        impl Backend for $db {
            const DIALECT: Dialect = $dialect;
            const MAX_BINDS: usize = $max_binds;

            fn bind_value(query: Query<'_, Self>, value: Value) -> Result<Query<'_, Self>, Value> {
                match value {
                    // As sea-query-sqlx binds it: SQLite has no decimal type.
                    #[cfg(feature = "decimal")]
                    Value::Decimal(v) => Ok(<Self as BindDecimal>::bind_decimal(query, v)),
                    other => <Self as ValueIo>::bind_kind(query, other),
                }
            }

            fn in_transaction<'c>(
                tx: &'c mut sqlx::Transaction<'_, Self>,
            ) -> impl sqlx::Executor<'c, Database = Self> {
                &mut **tx
            }

            fn bind_tenant<'q>(query: Query<'q, Self>, tenant_id: &TenantId) -> Query<'q, Self> {
                query.bind(tenant_id.as_str())
            }

            fn add_tenant(
                args: &mut Self::Arguments,
                tenant_id: &TenantId,
            ) -> Result<(), sqlx::error::BoxDynError> {
                sqlx::Arguments::add(args, tenant_id.as_str())
            }

            fn decode_count(row: &Self::Row) -> Result<i64, sqlx::Error> {
                sqlx::Row::try_get(row, 0)
            }

            fn relation_named<'q>(table: &'q str, name: &'q str) -> Query<'q, Self> {
                sqlx::query($relation_named).bind(table).bind(name)
            }

            fn decode_relation(row: &Self::Row) -> Result<RelationRow, sqlx::Error> {
                use sqlx::Row;
                Ok((
                    row.try_get(0)?,
                    row.try_get(1)?,
                    row.try_get(2)?,
                    row.try_get(3)?,
                    row.try_get(4)?,
                    row.try_get(5)?,
                    row.try_get(6)?,
                ))
            }

            fn decode_tenant(row: &Self::Row) -> Result<TenantId, sqlx::Error> {
                sqlx::Row::try_get(row, 0)
            }

            fn rows_affected(result: &Self::QueryResult) -> u64 {
                result.rows_affected()
            }

            fn arguments_from(values: Values) -> Self::Arguments {
                sqlx::IntoArguments::<$db>::into_arguments(sea_query_sqlx::SqlxValues(values))
            }

            fn decode_column<T>(row: &Self::Row, index: usize) -> Result<T, sqlx::Error>
            where
                T: for<'r> sqlx::Decode<'r, Self> + sqlx::Type<Self>,
            {
                sqlx::Row::try_get(row, index)
            }

            fn begin_tenant() -> String {
                $begin_tenant()
            }
        }

        #[cfg(feature = $feature)]
        impl WriteConn for &sqlx::Pool<$db> {}

        #[cfg(feature = $feature)]
        impl Conn for &sqlx::Pool<$db> {
            type Database = $db;

            fn executor(&mut self) -> impl sqlx::Executor<'_, Database = $db> {
                *self
            }

            fn begin(
                &mut self,
                _: sealed::Token,
            ) -> impl Future<Output = Result<sqlx::Transaction<'_, $db>, sqlx::Error>> + Send {
                let pool = *self;
                // `Pool::begin` gives a `Transaction<'static>`; shortened to the borrow here.
                async move {
                    let tx: sqlx::Transaction<'_, $db> = pool.begin().await?;
                    Ok(tx)
                }
            }
        }

        #[cfg(feature = $feature)]
        impl WriteConn for sqlx::Pool<$db> {}

        #[cfg(feature = $feature)]
        impl Conn for sqlx::Pool<$db> {
            type Database = $db;

            fn executor(&mut self) -> impl sqlx::Executor<'_, Database = $db> {
                &*self
            }

            fn begin(
                &mut self,
                _: sealed::Token,
            ) -> impl Future<Output = Result<sqlx::Transaction<'_, $db>, sqlx::Error>> + Send {
                let pool = &*self;
                // `Pool::begin` gives a `Transaction<'static>`; shortened to the borrow here.
                async move {
                    let tx: sqlx::Transaction<'_, $db> = pool.begin().await?;
                    Ok(tx)
                }
            }
        }

        #[cfg(feature = $feature)]
        impl WriteConn for &mut sqlx::Transaction<'_, $db> {}

        #[cfg(feature = $feature)]
        impl Conn for &mut sqlx::Transaction<'_, $db> {
            type Database = $db;

            fn executor(&mut self) -> impl sqlx::Executor<'_, Database = $db> {
                &mut ***self
            }

            fn begin(
                &mut self,
                _: sealed::Token,
            ) -> impl Future<Output = Result<sqlx::Transaction<'_, $db>, sqlx::Error>> + Send {
                sqlx::Connection::begin(&mut ***self)
            }
        }

        #[cfg(feature = $feature)]
        impl WriteConn for &mut sqlx::pool::PoolConnection<$db> {}

        #[cfg(feature = $feature)]
        impl Conn for &mut sqlx::pool::PoolConnection<$db> {
            type Database = $db;

            fn executor(&mut self) -> impl sqlx::Executor<'_, Database = $db> {
                &mut ***self
            }

            fn begin(
                &mut self,
                _: sealed::Token,
            ) -> impl Future<Output = Result<sqlx::Transaction<'_, $db>, sqlx::Error>> + Send {
                sqlx::Connection::begin(&mut ***self)
            }
        }

        #[cfg(feature = $feature)]
        impl WriteConn for &mut $connection {}

        #[cfg(feature = $feature)]
        impl Conn for &mut $connection {
            type Database = $db;

            fn executor(&mut self) -> impl sqlx::Executor<'_, Database = $db> {
                &mut **self
            }

            fn begin(
                &mut self,
                _: sealed::Token,
            ) -> impl Future<Output = Result<sqlx::Transaction<'_, $db>, sqlx::Error>> + Send {
                sqlx::Connection::begin(&mut **self)
            }
        }
    };
}

backend!(
    "sqlite",
    sqlx::Sqlite,
    sqlx::SqliteConnection,
    Dialect::Sqlite,
    max_binds: 32766,
    // Names are one namespace for tables, indexes, views and triggers, compared without case.
    // The index's columns in order, an expression as `?`, separated by U+001F.
    relation_named: "SELECT m.type, m.tbl_name, m.tbl_name = ?1 COLLATE NOCASE, \
                       (SELECT l.\"unique\" FROM pragma_index_list(m.tbl_name) AS l \
                        WHERE l.name = m.name), \
                       (SELECT l.partial FROM pragma_index_list(m.tbl_name) AS l \
                        WHERE l.name = m.name), \
                       CASE WHEN m.type = 'index' THEN 1 END, \
                       (SELECT group_concat(coalesce(c.name, '?'), char(31)) \
                        FROM (SELECT name FROM pragma_index_info(m.name) ORDER BY seqno) AS c) \
                     FROM sqlite_master AS m WHERE m.name = ?2 COLLATE NOCASE",
    // SQLite has no session settings and no row-level security: the transaction carries the
    // context for the repositories that run in it.
    begin_tenant: || String::from("BEGIN"),
);
backend!(
    "postgres",
    sqlx::Postgres,
    sqlx::PgConnection,
    Dialect::Postgres,
    max_binds: 65535,
    // Every relation kind shares the name space of indexes, in the schema of the table (where
    // `CREATE INDEX` puts an index), or the current schema where it will create the table.
    relation_named: "SELECT CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'table' \
                       WHEN 'i' THEN 'index' WHEN 'I' THEN 'index' WHEN 'S' THEN 'sequence' \
                       WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' \
                       WHEN 'f' THEN 'foreign table' WHEN 'c' THEN 'composite type' \
                       ELSE 'relation' END, \
                       t.relname::text, i.indrelid = to_regclass(quote_ident($1)), \
                       i.indisunique, i.indpred IS NOT NULL, i.indisvalid, \
                       CASE WHEN i.indexrelid IS NOT NULL THEN array_to_string(ARRAY( \
                         SELECT coalesce(a.attname::text, '?') \
                         FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, n) \
                         LEFT JOIN pg_attribute AS a \
                           ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
                         ORDER BY k.n), chr(31)) END \
                     FROM pg_class AS c \
                     LEFT JOIN pg_index AS i ON i.indexrelid = c.oid \
                     LEFT JOIN pg_class AS t ON t.oid = i.indrelid \
                     WHERE c.relname = $2 AND c.relnamespace = coalesce( \
                       (SELECT relnamespace FROM pg_class WHERE oid = to_regclass(quote_ident($1))), \
                       (SELECT oid FROM pg_namespace WHERE nspname = current_schema()))",
    // One round trip: BEGIN, the reset of the tenant setting and the search path with pg_temp
    // last. No tenant: only `RowSecurity` sets one, verified, bound rather than in this text.
    begin_tenant: || super::rls::begin_statement(None),
);
