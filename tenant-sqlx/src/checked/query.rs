//! The queries the checked macros return: the statement of their call site, the context and the
//! arguments, bound when they run (the database is known only then).

use std::marker::PhantomData;

use futures_core::future::BoxFuture;
use futures_core::stream::BoxStream;
use futures_util::{StreamExt as _, TryStreamExt as _};
use sqlx::{Database, FromRow};
use tenant_core::{TenantCtx, TenantId};

use super::args::QueryArgs;
use super::executor::{Access, CheckedExecutor, CheckedReader, Reads, Writes};
use super::sql::CheckedSql;
use crate::Error;
use crate::repo::Backend;

/// The statement and the arguments to send: the user's, then the tenant as `$N+1`. A handle
/// bound to another tenant (a `TenantTx`) refuses the context before anything is sent.
fn prepare<DB: Backend, A: QueryArgs<DB>>(
    sql: &'static CheckedSql,
    ctx: &TenantCtx,
    args: A,
    bound: Option<&TenantId>,
) -> Result<(&'static str, DB::Arguments), Error> {
    if let Some(bound) = bound.filter(|bound| *bound != ctx.tenant_id()) {
        return Err(Error::TenantMismatch {
            bound: bound.clone(),
            given: ctx.tenant_id().clone(),
        });
    }
    let mut arguments = DB::Arguments::default();
    args.add_to(&mut arguments).map_err(sqlx::Error::Encode)?;
    DB::add_tenant(&mut arguments, ctx.tenant_id()).map_err(sqlx::Error::Encode)?;
    Ok((sql.sql(), arguments))
}

/// A refusal as a stream's one item: nothing was sent.
fn refused<'e, O: Send + 'e>(error: Error) -> BoxStream<'e, Result<O, Error>> {
    futures_util::stream::once(std::future::ready(Err(error))).boxed()
}

/// What `query!` returns: a checked statement whose rows, if any, are sqlx rows. Run it like a
/// `sqlx::query`: `.execute(&pool)`, `.fetch_all(&mut tx)`, on a pool, a transaction, a
/// connection or a [`TenantTx`](crate::TenantTx), of either backend.
///
/// ```
/// use tenant::{tenant_scoped, Plan, TenantCtx, TenantId};
///
/// #[tenant_scoped(table = "notes")]
/// pub struct Note { #[key] pub id: i64, #[tenant] pub tenant_id: TenantId, pub body: String }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let acme = TenantCtx::trusted("acme".parse()?, "tenant_acme".parse()?, Plan::Free);
/// let pool = sqlx::SqlitePool::connect("sqlite::memory:").await?;
/// NoteRepo::new(&pool).create_table().await?;
///
/// let done = tenant::sqlx::query!(&acme, "INSERT INTO {Note} (id, body) VALUES ($1, $2)", 1_i64, "hi")
///     .execute(&pool)
///     .await?;
/// assert_eq!(done.rows_affected(), 1);
/// let rows = tenant::sqlx::query!(&acme, "SELECT body FROM {Note}").fetch_all(&pool).await?;
/// assert_eq!(rows.len(), 1);
/// # Ok(())
/// # }
/// ```
#[must_use = "a query does nothing until it is run: `.execute(..)`, `.fetch_all(..)`"]
pub struct CheckedQuery<'a, A, M> {
    sql: &'static CheckedSql,
    ctx: &'a TenantCtx,
    args: A,
    access: PhantomData<fn() -> M>,
}

/// What `query_as!` returns: a checked statement whose rows decode into `O` with sqlx's
/// [`FromRow`] (a `#[derive(sqlx::FromRow)]` struct, or a tuple).
///
/// ```
/// use tenant::{tenant_scoped, Plan, TenantCtx, TenantId};
///
/// #[tenant_scoped(table = "notes")]
/// pub struct Note { #[key] pub id: i64, #[tenant] pub tenant_id: TenantId, pub body: String }
///
/// // A tuple, or a struct deriving `sqlx::FromRow` (sqlx's `derive` feature).
/// type Line = (i64, String);
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let acme = TenantCtx::trusted("acme".parse()?, "tenant_acme".parse()?, Plan::Free);
/// let globex = TenantCtx::trusted("globex".parse()?, "tenant_globex".parse()?, Plan::Free);
/// let pool = sqlx::SqlitePool::connect("sqlite::memory:").await?;
/// let mut notes = NoteRepo::new(&pool);
/// notes.create_table().await?;
/// notes.insert(&acme, NewNote { id: 1, body: "acme's".into() }).await?;
/// notes.insert(&globex, NewNote { id: 1, body: "globex's".into() }).await?;
///
/// let lines = tenant::sqlx::query_as!(&acme, Line, "SELECT id, body FROM {Note} ORDER BY id")
///     .fetch_all(&pool)
///     .await?;
/// assert_eq!(lines, [(1, "acme's".to_owned())]);
/// # Ok(())
/// # }
/// ```
#[must_use = "a query does nothing until it is run: `.fetch_all(..)`"]
pub struct CheckedQueryAs<'a, O, A, M> {
    sql: &'static CheckedSql,
    ctx: &'a TenantCtx,
    args: A,
    out: PhantomData<fn() -> (O, M)>,
}

/// What `query_scalar!` returns: a checked statement whose rows' first column decodes into `O`.
///
/// ```
/// use tenant::{tenant_scoped, Plan, TenantCtx, TenantId};
///
/// #[tenant_scoped(table = "notes")]
/// pub struct Note { #[key] pub id: i64, #[tenant] pub tenant_id: TenantId, pub body: String }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let acme = TenantCtx::trusted("acme".parse()?, "tenant_acme".parse()?, Plan::Free);
/// let pool = sqlx::SqlitePool::connect("sqlite::memory:").await?;
/// NoteRepo::new(&pool).create_table().await?;
///
/// let n = tenant::sqlx::query_scalar!(&acme, i64, "SELECT count(*) FROM {Note}")
///     .fetch_one(&pool)
///     .await?;
/// assert_eq!(n, 0);
/// # Ok(())
/// # }
/// ```
#[must_use = "a query does nothing until it is run: `.fetch_one(..)`"]
pub struct CheckedQueryScalar<'a, O, A, M> {
    sql: &'static CheckedSql,
    ctx: &'a TenantCtx,
    args: A,
    out: PhantomData<fn() -> (O, M)>,
}

impl<'a, A, M: Access> CheckedQuery<'a, A, M> {
    /// Made by `query!` only.
    #[doc(hidden)]
    pub fn __new(sql: &'static CheckedSql, ctx: &'a TenantCtx, args: A) -> Self {
        CheckedQuery {
            sql,
            ctx,
            args,
            access: PhantomData,
        }
    }

    /// The statement sent: the SQL as written, every entity replaced by its table and
    /// restricted to the tenant bound last.
    pub fn sql(&self) -> &'static str {
        self.sql.sql()
    }
}

/// The run methods of `CheckedQuery` for one access: a query that reads runs on a
/// [`CheckedReader`], one that writes on a [`CheckedExecutor`] only.
macro_rules! runs {
    ($access:ty, $bound:ident) => {
        impl<'a, A> CheckedQuery<'a, A, $access> {
            /// Runs the statement; its result says how many rows it changed.
            pub fn execute<'e, 'c: 'e, X>(
                self,
                executor: X,
            ) -> BoxFuture<'e, Result<<X::Database as Database>::QueryResult, Error>>
            where
                'a: 'e,
                X: $bound<'c> + 'e,
                A: QueryArgs<X::Database> + 'e,
            {
                Box::pin(async move {
                    let (sql, args) =
                        prepare(self.sql, self.ctx, self.args, executor.bound_tenant())?;
                    Ok(sqlx::query_with(sql, args)
                        .execute(executor.into_executor())
                        .await?)
                })
            }

            /// Every row, as sqlx rows.
            pub fn fetch_all<'e, 'c: 'e, X>(
                self,
                executor: X,
            ) -> BoxFuture<'e, Result<Vec<<X::Database as Database>::Row>, Error>>
            where
                'a: 'e,
                X: $bound<'c> + 'e,
                A: QueryArgs<X::Database> + 'e,
            {
                Box::pin(async move {
                    let (sql, args) =
                        prepare(self.sql, self.ctx, self.args, executor.bound_tenant())?;
                    Ok(sqlx::query_with(sql, args)
                        .fetch_all(executor.into_executor())
                        .await?)
                })
            }

            /// The first row; none is `sqlx::Error::RowNotFound` (in [`Error::Database`]).
            pub fn fetch_one<'e, 'c: 'e, X>(
                self,
                executor: X,
            ) -> BoxFuture<'e, Result<<X::Database as Database>::Row, Error>>
            where
                'a: 'e,
                X: $bound<'c> + 'e,
                A: QueryArgs<X::Database> + 'e,
            {
                Box::pin(async move {
                    let (sql, args) =
                        prepare(self.sql, self.ctx, self.args, executor.bound_tenant())?;
                    Ok(sqlx::query_with(sql, args)
                        .fetch_one(executor.into_executor())
                        .await?)
                })
            }

            /// The first row, if any.
            pub fn fetch_optional<'e, 'c: 'e, X>(
                self,
                executor: X,
            ) -> BoxFuture<'e, Result<Option<<X::Database as Database>::Row>, Error>>
            where
                'a: 'e,
                X: $bound<'c> + 'e,
                A: QueryArgs<X::Database> + 'e,
            {
                Box::pin(async move {
                    let (sql, args) =
                        prepare(self.sql, self.ctx, self.args, executor.bound_tenant())?;
                    Ok(sqlx::query_with(sql, args)
                        .fetch_optional(executor.into_executor())
                        .await?)
                })
            }

            /// The rows as a stream; a refused context or argument is its one item.
            pub fn fetch<'c: 'e, 'e, X>(
                self,
                executor: X,
            ) -> BoxStream<'e, Result<<X::Database as Database>::Row, Error>>
            where
                X: $bound<'c> + 'e,
                A: QueryArgs<X::Database>,
            {
                match prepare(self.sql, self.ctx, self.args, executor.bound_tenant()) {
                    Ok((sql, args)) => sqlx::query_with(sql, args)
                        .fetch(executor.into_executor())
                        .map_err(Error::from)
                        .boxed(),
                    Err(error) => refused(error),
                }
            }
        }
    };
}

runs!(Reads, CheckedReader);
runs!(Writes, CheckedExecutor);

/// The `fetch` family of `CheckedQueryAs` and `CheckedQueryScalar`: the same five steps over
/// sqlx's `query_as_with` and `query_scalar_with`.
macro_rules! fetches {
    ($ty:ident, $with:path, [$($decodes:tt)*], $what:literal) => {
        impl<'a, O, A, M: Access> $ty<'a, O, A, M> {
            /// Made by the macro only.
            #[doc(hidden)]
            pub fn __new(sql: &'static CheckedSql, ctx: &'a TenantCtx, args: A) -> Self {
                $ty {
                    sql,
                    ctx,
                    args,
                    out: PhantomData,
                }
            }

            /// The statement sent: the SQL as written, every entity replaced by its table and
            /// restricted to the tenant bound last.
            pub fn sql(&self) -> &'static str {
                self.sql.sql()
            }
        }

        fetches!(@runs $ty, $with, [$($decodes)*], $what, Reads, CheckedReader);
        fetches!(@runs $ty, $with, [$($decodes)*], $what, Writes, CheckedExecutor);
    };
    (@runs $ty:ident, $with:path, [$($decodes:tt)*], $what:literal, $access:ty, $bound:ident) => {
        impl<'a, O, A> $ty<'a, O, A, $access> {
            #[doc = concat!("Every row, ", $what, ".")]
            pub fn fetch_all<'e, 'c: 'e, X>(
                self,
                executor: X,
            ) -> BoxFuture<'e, Result<Vec<O>, Error>>
            where
                'a: 'e,
                X: $bound<'c> + 'e,
                A: QueryArgs<X::Database> + 'e,
                $($decodes)*,
                O: 'e,
            {
                Box::pin(async move {
                    let (sql, args) =
                        prepare(self.sql, self.ctx, self.args, executor.bound_tenant())?;
                    Ok($with(sql, args).fetch_all(executor.into_executor()).await?)
                })
            }

            #[doc = concat!("The first row, ", $what, "; none is `sqlx::Error::RowNotFound` (in [`Error::Database`]).")]
            pub fn fetch_one<'e, 'c: 'e, X>(
                self,
                executor: X,
            ) -> BoxFuture<'e, Result<O, Error>>
            where
                'a: 'e,
                X: $bound<'c> + 'e,
                A: QueryArgs<X::Database> + 'e,
                $($decodes)*,
                O: 'e,
            {
                Box::pin(async move {
                    let (sql, args) =
                        prepare(self.sql, self.ctx, self.args, executor.bound_tenant())?;
                    Ok($with(sql, args).fetch_one(executor.into_executor()).await?)
                })
            }

            #[doc = concat!("The first row, ", $what, ", if any.")]
            pub fn fetch_optional<'e, 'c: 'e, X>(
                self,
                executor: X,
            ) -> BoxFuture<'e, Result<Option<O>, Error>>
            where
                'a: 'e,
                X: $bound<'c> + 'e,
                A: QueryArgs<X::Database> + 'e,
                $($decodes)*,
                O: 'e,
            {
                Box::pin(async move {
                    let (sql, args) =
                        prepare(self.sql, self.ctx, self.args, executor.bound_tenant())?;
                    Ok($with(sql, args)
                        .fetch_optional(executor.into_executor())
                        .await?)
                })
            }

            #[doc = concat!("The rows, ", $what, ", as a stream; a refused context or argument is its one item.")]
            pub fn fetch<'c: 'e, 'e, X>(self, executor: X) -> BoxStream<'e, Result<O, Error>>
            where
                X: $bound<'c> + 'e,
                A: QueryArgs<X::Database>,
                $($decodes)*,
                O: 'e,
            {
                match prepare(self.sql, self.ctx, self.args, executor.bound_tenant()) {
                    Ok((sql, args)) => $with(sql, args)
                        .fetch(executor.into_executor())
                        .map_err(Error::from)
                        .boxed(),
                    Err(error) => refused(error),
                }
            }
        }
    };
}

fetches!(
    CheckedQueryAs,
    sqlx::query_as_with,
    [O: Send + Unpin + for<'r> FromRow<'r, <X::Database as Database>::Row>],
    "decoded with `FromRow`"
);
fetches!(
    CheckedQueryScalar,
    sqlx::query_scalar_with,
    [O: Send + Unpin, (O,): for<'r> FromRow<'r, <X::Database as Database>::Row>],
    "its first column"
);

impl<A, M> std::fmt::Debug for CheckedQuery<'_, A, M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckedQuery")
            .field("sql", &self.sql.sql())
            .field("tenant_id", self.ctx.tenant_id())
            .finish_non_exhaustive()
    }
}
