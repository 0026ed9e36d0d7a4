//! [`Repo`]: an entity's repository, with its single-row, filtered and cross-tenant statements
//! (writes in bulk, pages and relations have their own modules).

use std::marker::PhantomData;

use sqlx::AssertSqlSafe;

use super::backend::{Backend, Conn, WriteConn};
use super::cursor::CursorKey;
use super::dialect::Dialect;
use super::entity::{Entity, EntityIo};
use super::filter::Filter;
use super::sql::ddl;
use super::sql::read::Filtered;
use super::statements::Fixed;
use super::value::Query;
use crate::error::Error;
use tenant_core::{SystemCtx, TenantCtx, TenantId};

/// The repository of entity `E` over the pool, connection or transaction `X`.
///
/// `#[tenant_scoped]` names it `<Entity>Repo<X>`. Every data method takes `&TenantCtx` first
/// and adds `tenant = ctx.tenant_id()` to its statement (to the WHERE of SELECT, UPDATE and
/// DELETE, and to the VALUES of INSERT), so a call cannot reach another tenant's rows. The only
/// cross-tenant methods take a [`SystemCtx`] and are reads.
///
/// ```
/// # use tenant::{tenant_scoped, Plan, TenantCtx, TenantId};
/// #[tenant_scoped(table = "invoices")]
/// pub struct Invoice {
///     #[key] pub id: i64,
///     #[tenant] pub tenant_id: TenantId,
///     pub customer: String,
///     pub amount_cents: i64,
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let acme = TenantCtx::trusted("acme".parse()?, "tenant_acme".parse()?, Plan::Pro);
/// let globex = TenantCtx::trusted("globex".parse()?, "tenant_globex".parse()?, Plan::Free);
///
/// let pool = sqlx::SqlitePool::connect("sqlite::memory:").await?;
/// let mut invoices = InvoiceRepo::new(&pool);
/// invoices.create_table().await?;
/// invoices.insert(&acme, NewInvoice { id: 1, customer: "Wile E.".into(), amount_cents: 990 }).await?;
///
/// assert_eq!(invoices.get(&acme, 1).await?.map(|i| i.amount_cents), Some(990));
/// assert!(invoices.get(&globex, 1).await?.is_none());
/// let patch = InvoicePatch { amount_cents: Some(1), ..Default::default() };
/// assert_eq!(invoices.update(&globex, 1, patch).await?, 0);
/// # Ok(())
/// # }
/// ```
pub struct Repo<E, X> {
    pub(super) conn: X,
    /// Tags page cursors; the process's random key when `None`.
    pub(super) cursor_key: Option<CursorKey>,
    entity: PhantomData<fn() -> E>,
}

impl<E: Entity, X> Repo<E, X> {
    /// A repository running its statements through `conn`: a pool, connection or transaction
    /// ([`Conn`]). Bound here, not only on the methods, so that a handle that is not one (a
    /// [`TenantPool`](crate::TenantPool), a pool of another sqlx version) is refused where it is
    /// given, with the trait's message.
    pub fn new(conn: X) -> Self
    where
        X: Conn,
    {
        Self::over(conn)
    }

    /// [`new`](Self::new) without the bound, for the crate's generic constructors
    /// (`TenantTx::repo`, `PoolSet::repo`), whose handle is a `Conn` only for a backend whose
    /// connections execute: the methods' bounds still hold a user to it.
    pub(crate) fn over(conn: X) -> Self {
        Repo {
            conn,
            cursor_key: None,
            entity: PhantomData,
        }
    }

    /// Gives the pool, connection or transaction back.
    pub fn into_inner(self) -> X {
        self.conn
    }
}

impl<E, X> Repo<E, X>
where
    X: Conn,
    E: EntityIo<X::Database>,
{
    /// Refuses `ctx` when the handle is bound to another tenant (a [`TenantTx`](crate::TenantTx)):
    /// on SQLite, and in a tenant's own schema, nothing else would stop the row landing among
    /// the bound tenant's data. Every method that takes a `&TenantCtx` calls it first.
    pub(super) fn bound(&self, ctx: &TenantCtx) -> Result<(), Error> {
        match self.conn.bound_tenant() {
            Some(bound) if bound != ctx.tenant_id() => Err(Error::TenantMismatch {
                bound: bound.clone(),
                given: ctx.tenant_id().clone(),
            }),
            _ => Ok(()),
        }
    }

    pub(super) fn fixed(which: Fixed) -> &'static str {
        E::statements().fixed(E::META, <X::Database as Backend>::DIALECT, which)
    }

    /// A cached statement whose first placeholder is bound to `ctx`'s tenant.
    pub(super) fn tenant_query(which: Fixed, ctx: &TenantCtx) -> Query<'static, X::Database> {
        <X::Database as Backend>::bind_tenant(sqlx::query(Self::fixed(which)), ctx.tenant_id())
    }

    /// The statements [`create_table`](Self::create_table) runs, for migration files: CREATE
    /// TABLE with the tenant column NOT NULL and leading the primary key, then one CREATE INDEX
    /// per `#[unique]` or `#[index]` field, each led by the tenant column.
    pub fn ddl(&self) -> &'static [String] {
        E::statements().ddl(E::META, <X::Database as Backend>::DIALECT)
    }

    /// Creates the table and its indexes if they do not exist. Schema, not data: no context.
    ///
    /// The table of a `#[belongs_to(Parent)]` field's parent must be created first: PostgreSQL
    /// refuses a foreign key to a table that does not exist (SQLite accepts it, and then refuses
    /// every write to the child). [`Migration`](crate::Migration) and `TenantSchema` order their
    /// tables so.
    ///
    /// `IF NOT EXISTS` compares names only, so each index is checked before the DDL runs and
    /// verified after it: an index name of this entity that belongs to an index of another
    /// table is an [`Error::IndexNameTaken`]; one that another kind of relation has (a table, a
    /// sequence, a view), or an index of this table on other columns, not unique, partial or
    /// invalid, is an [`Error::IndexMismatch`]. Otherwise the index would be skipped silently,
    /// and with a `#[unique]` field its per-tenant uniqueness.
    pub async fn create_table(&mut self) -> Result<(), Error>
    where
        X: WriteConn,
    {
        let indexes = ddl::indexes(E::META, <X::Database as Backend>::DIALECT);
        // Before: nothing is created when a name is taken.
        for index in &indexes {
            let facts = self.relation_named(&index.name).await?;
            ddl::check_index(E::META.table, index, facts)?;
        }
        for statement in self.ddl() {
            sqlx::query::<X::Database>(statement.as_str())
                .execute(self.conn.executor())
                .await?;
        }
        // After: each index is there and is ours (a concurrent creator could have won the name).
        for index in &indexes {
            match self.relation_named(&index.name).await? {
                None => {
                    return Err(Error::IndexMismatch {
                        index: index.name.clone(),
                        table: E::META.table,
                        expected: index.describe(),
                        found: "missing after CREATE INDEX".into(),
                    });
                }
                facts => ddl::check_index(E::META.table, index, facts)?,
            }
        }
        Ok(())
    }

    async fn relation_named(
        &mut self,
        name: &str,
    ) -> Result<Option<ddl::RelationFacts>, sqlx::Error> {
        <X::Database as Backend>::relation_named(E::META.table, name)
            .try_map(|row| <X::Database as Backend>::decode_relation(&row))
            .fetch_optional(self.conn.executor())
            .await
            .map(|row| {
                row.map(
                    |(kind, table, on_entity_table, unique, partial, valid, columns)| {
                        ddl::RelationFacts {
                            kind,
                            table,
                            on_entity_table,
                            unique,
                            partial,
                            valid,
                            columns,
                        }
                    },
                )
            })
    }

    /// Inserts a row owned by `ctx`'s tenant and returns it as stored. The tenant column is taken
    /// from `ctx`; [`New`](Entity::New) has no field for it. A row of the same tenant with the
    /// same key or `#[unique]` value is an [`Error::Conflict`]; a `#[belongs_to]` value that
    /// names no parent of this tenant (whoever else has one) is an [`Error::ForeignKey`].
    ///
    /// What comes back is what the database stored: a generated key (`#[key(generated)]`), the
    /// defaults (`#[column(default = "..")]`), and each value as the column keeps it. On
    /// PostgreSQL the statement always ends in `RETURNING` (a timestamp is kept in microseconds,
    /// not the nanoseconds sent; reading back measured up to 1.06x there); SQLite keeps
    /// every value as sent, so there the row is read back only when the database fills a
    /// column (reading back would cost 1.19x; BENCHMARKS.md, `insert`).
    ///
    /// ```
    /// # use tenant::{tenant_scoped, Plan, TenantCtx, TenantId};
    /// #[tenant_scoped(table = "tickets")]
    /// pub struct Ticket {
    ///     #[key(generated)] pub id: i64,
    ///     #[tenant] pub tenant_id: TenantId,
    ///     pub title: String,
    ///     #[column(default = "'open'")] pub status: String,
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let pool = sqlx::SqlitePool::connect("sqlite::memory:").await?;
    /// let mut tickets = TicketRepo::new(&pool);
    /// tickets.create_table().await?;
    /// let acme = TenantCtx::trusted("acme".parse()?, "tenant_acme".parse()?, Plan::Free);
    /// // `NewTicket` has neither the generated key nor the defaulted status.
    /// let ticket = tickets.insert(&acme, NewTicket { title: "printer on fire".into() }).await?;
    /// assert_eq!(ticket.status, "open");
    /// assert_eq!(tickets.get(&acme, ticket.id).await?.map(|t| t.title), Some("printer on fire".into()));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn insert(&mut self, ctx: &TenantCtx, new: E::New) -> Result<E, Error>
    where
        X: WriteConn,
    {
        self.bound(ctx)?;
        let query = E::bind_new(Self::tenant_query(Fixed::Insert, ctx), &new);
        let known = match <X::Database as Backend>::DIALECT {
            // SQLite keeps every value as sent: unless the database fills a column, the row is
            // known without reading it back.
            Dialect::Sqlite => E::from_new(new, ctx.tenant_id().clone()),
            // PostgreSQL may keep a value otherwise than sent (a timestamp in microseconds).
            Dialect::Postgres => None,
        };
        match known {
            Some(row) => {
                query
                    .execute(self.conn.executor())
                    .await
                    .map_err(|e| Error::from_write(E::META.table, e))?;
                Ok(row)
            }
            // The statement ends in RETURNING.
            None => query
                .try_map(|row| E::decode_row(&row))
                .fetch_one(self.conn.executor())
                .await
                .map_err(|e| Error::from_write(E::META.table, e)),
        }
    }

    /// The row with `key` if `ctx`'s tenant owns one.
    pub async fn get(&mut self, ctx: &TenantCtx, key: E::Key) -> Result<Option<E>, Error> {
        self.bound(ctx)?;
        let query = Self::tenant_query(Fixed::Get, ctx);
        Ok(E::bind_key(query, key)
            .try_map(|row| E::decode_row(&row))
            .fetch_optional(self.conn.executor())
            .await?)
    }

    /// Every row of `ctx`'s tenant, ordered by key.
    pub async fn list(&mut self, ctx: &TenantCtx) -> Result<Vec<E>, Error> {
        self.bound(ctx)?;
        Ok(Self::tenant_query(Fixed::List, ctx)
            .try_map(|row| E::decode_row(&row))
            .fetch_all(self.conn.executor())
            .await?)
    }

    /// The statement of `kind` for `filter`, its values bound and then the tenant.
    pub(super) fn filtered_query(
        kind: Filtered,
        ctx: &TenantCtx,
        filter: Filter<E>,
    ) -> Query<'static, X::Database> {
        let dialect = <X::Database as Backend>::DIALECT;
        let sql = E::statements().filtered(E::META, dialect, kind, &filter.shape);
        Self::bind_filter(sql, ctx, filter)
    }

    /// `sql`, a statement rendered for `filter`'s shape, with the filter's values bound and then
    /// the tenant, in the order every filtered statement takes them.
    pub(super) fn bind_filter(
        sql: std::sync::Arc<str>,
        ctx: &TenantCtx,
        filter: Filter<E>,
    ) -> Query<'static, X::Database> {
        let arguments = <X::Database as Backend>::arguments_from(sea_query::Values(filter.values));
        let query = sqlx::query_with(AssertSqlSafe(sql), arguments);
        <X::Database as Backend>::bind_tenant(query, ctx.tenant_id())
    }

    /// The rows of `ctx`'s tenant that satisfy `filter`, ordered by key. The tenant predicate is
    /// ANDed outside the filter: no `or` or `not` in it reaches another tenant's rows.
    pub async fn list_where(
        &mut self,
        ctx: &TenantCtx,
        filter: Filter<E>,
    ) -> Result<Vec<E>, Error> {
        self.bound(ctx)?;
        Ok(Self::filtered_query(Filtered::Rows, ctx, filter)
            .try_map(|row| E::decode_row(&row))
            .fetch_all(self.conn.executor())
            .await?)
    }

    /// How many rows of `ctx`'s tenant satisfy `filter`.
    ///
    /// ```
    /// # use tenant::{tenant_scoped, Plan, TenantCtx, TenantId};
    /// # #[tenant_scoped(table = "invoices")]
    /// # pub struct Invoice { #[key] pub id: i64, #[tenant] pub tenant_id: TenantId, pub customer: String, pub paid: bool }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let pool = sqlx::SqlitePool::connect("sqlite::memory:").await?;
    /// let mut invoices = InvoiceRepo::new(&pool);
    /// invoices.create_table().await?;
    /// let acme = TenantCtx::trusted("acme".parse()?, "tenant_acme".parse()?, Plan::Free);
    /// for (id, customer) in [(1, "road-runner"), (2, "coyote"), (3, "road-works")] {
    ///     invoices.insert(&acme, NewInvoice { id, customer: customer.into(), paid: id == 2 }).await?;
    /// }
    /// let c = Invoice::columns();
    /// assert_eq!(invoices.count_where(&acme, c.customer.starts_with("road")).await?, 2);
    /// assert!(invoices.exists(&acme, c.paid.eq(true)).await?);
    /// assert!(!invoices.exists(&acme, c.id.is_in([7, 8])).await?);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn count_where(&mut self, ctx: &TenantCtx, filter: Filter<E>) -> Result<u64, Error> {
        self.bound(ctx)?;
        let query = Self::filtered_query(Filtered::Count, ctx, filter);
        self.fetch_count(query).await
    }

    /// Whether any row of `ctx`'s tenant satisfies `filter` (`SELECT 1 .. LIMIT 1`).
    pub async fn exists(&mut self, ctx: &TenantCtx, filter: Filter<E>) -> Result<bool, Error> {
        self.bound(ctx)?;
        Ok(Self::filtered_query(Filtered::Exists, ctx, filter)
            .fetch_optional(self.conn.executor())
            .await?
            .is_some())
    }

    /// How many rows `ctx`'s tenant owns.
    pub async fn count(&mut self, ctx: &TenantCtx) -> Result<u64, Error> {
        self.bound(ctx)?;
        let query = Self::tenant_query(Fixed::Count, ctx);
        self.fetch_count(query).await
    }

    /// Applies the fields `patch` sets to the row with `key` of `ctx`'s tenant. Returns the number
    /// of rows changed: 0 when the tenant owns no such row, whoever else does. A `#[belongs_to]`
    /// value that names no parent of this tenant is an [`Error::ForeignKey`].
    pub async fn update(
        &mut self,
        ctx: &TenantCtx,
        key: E::Key,
        patch: E::Patch,
    ) -> Result<u64, Error>
    where
        X: WriteConn,
    {
        self.bound(ctx)?;
        let mask = E::patch_mask(&patch);
        if mask == 0 {
            return Err(Error::EmptyPatch);
        }
        let sql = E::statements().update(E::META, <X::Database as Backend>::DIALECT, mask);
        let query = E::bind_patch(sqlx::query(AssertSqlSafe(sql)), patch);
        let query = <X::Database as Backend>::bind_tenant(query, ctx.tenant_id());
        let done = E::bind_key(query, key)
            .execute(self.conn.executor())
            .await
            .map_err(|e| Error::from_write(E::META.table, e))?;
        Ok(<X::Database as Backend>::rows_affected(&done))
    }

    /// Deletes the rows of `ctx`'s tenant that satisfy `filter`, in one statement, and returns
    /// how many. The tenant predicate is ANDed outside the filter: a filter that matches
    /// everything deletes everything of this tenant and nothing of another's. If one of them is
    /// the `#[belongs_to]` parent of rows still there, none is deleted: [`Error::ForeignKey`].
    ///
    /// ```
    /// # use tenant::{tenant_scoped, Plan, TenantCtx, TenantId};
    /// # #[tenant_scoped(table = "sessions")]
    /// # pub struct Session { #[key] pub id: i64, #[tenant] pub tenant_id: TenantId, pub expires_at: i64 }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let pool = sqlx::SqlitePool::connect("sqlite::memory:").await?;
    /// let mut sessions = SessionRepo::new(&pool);
    /// sessions.create_table().await?;
    /// let acme = TenantCtx::trusted("acme".parse()?, "tenant_acme".parse()?, Plan::Free);
    /// let globex = TenantCtx::trusted("globex".parse()?, "tenant_globex".parse()?, Plan::Free);
    /// for id in 1..=4 {
    ///     sessions.insert(&acme, NewSession { id, expires_at: id * 100 }).await?;
    ///     sessions.insert(&globex, NewSession { id, expires_at: id * 100 }).await?;
    /// }
    /// let expired = Session::columns().expires_at.lt(250);
    /// assert_eq!(sessions.delete_where(&acme, expired).await?, 2);
    /// assert_eq!((sessions.count(&acme).await?, sessions.count(&globex).await?), (2, 4));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn delete_where(&mut self, ctx: &TenantCtx, filter: Filter<E>) -> Result<u64, Error>
    where
        X: WriteConn,
    {
        self.bound(ctx)?;
        let dialect = <X::Database as Backend>::DIALECT;
        let sql = E::statements().delete_where(E::META, dialect, &filter.shape);
        let done = Self::bind_filter(sql, ctx, filter)
            .execute(self.conn.executor())
            .await
            .map_err(|e| Error::from_write(E::META.table, e))?;
        Ok(<X::Database as Backend>::rows_affected(&done))
    }

    /// Deletes the row with `key` of `ctx`'s tenant. Returns the number of rows deleted: 0 when
    /// the tenant owns no such row, whoever else does. A row that is the `#[belongs_to]` parent
    /// of rows still there is not deleted: [`Error::ForeignKey`].
    pub async fn delete(&mut self, ctx: &TenantCtx, key: E::Key) -> Result<u64, Error>
    where
        X: WriteConn,
    {
        self.bound(ctx)?;
        let query = Self::tenant_query(Fixed::Delete, ctx);
        let done = E::bind_key(query, key)
            .execute(self.conn.executor())
            .await
            .map_err(|e| Error::from_write(E::META.table, e))?;
        Ok(<X::Database as Backend>::rows_affected(&done))
    }

    /// Every tenant's rows, ordered by tenant and key. Audited.
    pub async fn system_list(&mut self, sys: &SystemCtx) -> Result<Vec<E>, Error> {
        sys.audit("list", E::META.table);
        Ok(sqlx::query(Self::fixed(Fixed::SystemList))
            .try_map(|row| E::decode_row(&row))
            .fetch_all(self.conn.executor())
            .await?)
    }

    /// How many rows all tenants own together. Audited.
    pub async fn system_count(&mut self, sys: &SystemCtx) -> Result<u64, Error> {
        sys.audit("count", E::META.table);
        self.fetch_count(sqlx::query(Self::fixed(Fixed::SystemCount)))
            .await
    }

    /// The tenants that own at least one row, in order. Audited.
    pub async fn system_tenant_ids(&mut self, sys: &SystemCtx) -> Result<Vec<TenantId>, Error> {
        sys.audit("tenant_ids", E::META.table);
        Ok(sqlx::query(Self::fixed(Fixed::SystemTenantIds))
            .try_map(|row| <X::Database as Backend>::decode_tenant(&row))
            .fetch_all(self.conn.executor())
            .await?)
    }

    pub(super) async fn fetch_count(
        &mut self,
        query: Query<'_, X::Database>,
    ) -> Result<u64, Error> {
        let count = query
            .try_map(|row| <X::Database as Backend>::decode_count(&row))
            .fetch_one(self.conn.executor())
            .await?;
        Ok(u64::try_from(count).unwrap_or_default())
    }
}
