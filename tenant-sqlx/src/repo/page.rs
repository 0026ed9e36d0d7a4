//! Ordered reads: keyset pages with tamper-evident cursors ([`Repo::page`]), and
//! [`Repo::select`]'s builder for ordered lists, limit/offset pages and streams. Every statement
//! carries the tenant predicate, ANDed outside the filter and the keyset condition.

use std::fmt;

use futures_core::Stream;
use futures_util::TryStreamExt as _;
use sea_query::{Value, Values};
use sqlx::AssertSqlSafe;
use tenant_core::TenantCtx;

use super::backend::{Backend, Conn};
use super::cursor::{Cursor, CursorKey, Seal};
use super::entity::{Entity, EntityIo};
use super::filter::Filter;
use super::order::{Order, Resolved};
use super::repository::Repo;
use super::shape::Node;
use super::sql::read::Ordered;
use super::value::{Orderable, Query, ValueIo};
use crate::error::Error;

/// A request for one keyset page of entity `E`: an order, a page size, and optionally a filter
/// and the [`Cursor`] the previous page ended with. See [`Repo::page`].
///
/// A cursor deserializes from its text, so it can sit in an endpoint's query or body type:
///
/// ```
/// # use tenant::{tenant_scoped, TenantId};
/// use tenant::sqlx::{Cursor, Page, PageRequest};
/// # #[tenant_scoped(table = "invoices")]
/// # pub struct Invoice { #[key] pub id: i64, #[tenant] pub tenant_id: TenantId, pub paid: bool }
///
/// #[derive(serde::Deserialize)]
/// struct ListInvoices {
///     cursor: Option<Cursor<Invoice>>,
/// }
///
/// let params: ListInvoices = serde_json::from_str(r#"{ "cursor": null }"#)?;
/// let c = Invoice::columns();
/// let request = PageRequest::new(c.id.desc(), 50)
///     .filter(c.paid.eq(false))
///     .after(params.cursor);
/// # let _ = request;
/// # Ok::<(), serde_json::Error>(())
/// ```
pub struct PageRequest<E> {
    filter: Option<Filter<E>>,
    order: Order<E>,
    limit: u64,
    after: Option<Cursor<E>>,
}

impl<E> PageRequest<E> {
    /// The first page of at most `limit` rows (a limit of 0 is taken as 1) in `order`. A `u64`,
    /// as [`Select::limit`] and SQL's `LIMIT` take.
    pub fn new(order: Order<E>, limit: u64) -> Self {
        PageRequest {
            filter: None,
            order,
            limit,
            after: None,
        }
    }

    /// Only rows satisfying `filter` (ANDed with a filter given before). A cursor is only
    /// accepted with the filter, values included, that its page was read with.
    pub fn filter(mut self, filter: Filter<E>) -> Self {
        self.filter = Some(Filter::combined(self.filter.take(), filter));
        self
    }

    /// The page after the one that returned `cursor` as its [`next`](Page::next); `None` asks
    /// for the first page.
    pub fn after(mut self, cursor: Option<Cursor<E>>) -> Self {
        self.after = cursor;
        self
    }
}

impl<E> Clone for PageRequest<E> {
    fn clone(&self) -> Self {
        PageRequest {
            filter: self.filter.clone(),
            order: self.order.clone(),
            limit: self.limit,
            after: self.after.clone(),
        }
    }
}

impl<E> fmt::Debug for PageRequest<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PageRequest")
            .field("filter", &self.filter)
            .field("order", &self.order)
            .field("limit", &self.limit)
            .field("after", &self.after)
            .finish()
    }
}

/// One keyset page: the rows, and where the next page starts if there is one.
///
/// ```
/// # use tenant::{tenant_scoped, TenantId};
/// use tenant::sqlx::Page;
/// # #[tenant_scoped(table = "invoices")]
/// # pub struct Invoice { #[key] pub id: i64, #[tenant] pub tenant_id: TenantId }
///
/// // What an endpoint might answer: the rows and the cursor's text, if there are more.
/// fn body(page: Page<Invoice>) -> (Vec<i64>, Option<String>) {
///     let Page { items, next, .. } = page;
///     (items.iter().map(|i| i.id).collect(), next.map(|cursor| cursor.to_string()))
/// }
/// # let _ = body;
/// ```
///
/// It serializes as `{"items": [..], "next": "<cursor>"}` (`null` on the last page), so an
/// endpoint can answer `Json(page)` when `E` is `Serialize`.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(bound(serialize = "E: serde::Serialize"))]
#[non_exhaustive]
pub struct Page<E> {
    /// At most the request's limit of rows, in its order.
    pub items: Vec<E>,
    /// The cursor of the next page (give it to [`PageRequest::after`]); `None` on the last
    /// page.
    pub next: Option<Cursor<E>>,
}

impl<E: Entity, X> Repo<E, X> {
    /// This repository, tagging and checking page cursors with `key` rather than with the
    /// process's random key. Give every replica the same key so that a cursor survives a
    /// restart and is accepted by whichever replica the next request reaches.
    ///
    /// ```
    /// # use tenant::{tenant_scoped, TenantId};
    /// # use tenant::sqlx::CursorKey;
    /// # #[tenant_scoped(table = "invoices")]
    /// # pub struct Invoice { #[key] pub id: i64, #[tenant] pub tenant_id: TenantId }
    /// # fn key_from_secret_store() -> Vec<u8> { vec![7; 32] }
    /// # async fn run(pool: sqlx::SqlitePool) -> Result<(), Box<dyn std::error::Error>> {
    /// let key = CursorKey::from_bytes(&key_from_secret_store())?;
    /// let invoices = InvoiceRepo::new(&pool).with_cursor_key(key);
    /// # let _ = invoices; Ok(())
    /// # }
    /// ```
    pub fn with_cursor_key(mut self, key: CursorKey) -> Self {
        self.cursor_key = Some(key);
        self
    }
}

impl<E, X> Repo<E, X>
where
    X: Conn,
    E: EntityIo<X::Database>,
{
    /// One keyset page of `ctx`'s tenant's rows: those after `request`'s cursor (all, without
    /// one) that satisfy its filter, in its order, at most its limit of them, and the cursor of
    /// the next page if there are more rows.
    ///
    /// A page costs one statement whatever its depth: `WHERE (filter) AND (after the cursor's
    /// row) AND tenant = ? ORDER BY .. LIMIT limit + 1`, "after" expanded without row values
    /// (`(c1 > v1) OR (c1 = v1 AND c2 > v2) OR ..`) so both backends plan it alike. Rows
    /// inserted or deleted between pages neither shift nor repeat the others. The cursor is
    /// refused with an [`Error::Cursor`] when it was minted for another tenant, order or filter,
    /// under another [`CursorKey`], or altered.
    ///
    /// ```
    /// # use tenant::{tenant_scoped, Plan, TenantCtx, TenantId};
    /// use tenant::sqlx::{Cursor, PageRequest};
    /// # #[tenant_scoped(table = "invoices")]
    /// # pub struct Invoice { #[key] pub id: i64, #[tenant] pub tenant_id: TenantId, pub customer: String, pub amount_cents: i64 }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let pool = sqlx::SqlitePool::connect("sqlite::memory:").await?;
    /// let mut invoices = InvoiceRepo::new(&pool);
    /// invoices.create_table().await?;
    /// let acme = TenantCtx::trusted("acme".parse()?, "tenant_acme".parse()?, Plan::Free);
    /// for (id, amount_cents) in [(1, 500), (2, 900), (3, 500), (4, 100)] {
    ///     invoices.insert(&acme, NewInvoice { id, customer: "coyote".into(), amount_cents }).await?;
    /// }
    ///
    /// let c = Invoice::columns();
    /// let request = PageRequest::new(c.amount_cents.desc(), 2).filter(c.customer.eq("coyote"));
    /// let first = invoices.page(&acme, request.clone()).await?;
    /// assert_eq!(first.items.iter().map(|i| i.id).collect::<Vec<_>>(), [2, 1]);
    ///
    /// // The cursor travels as text (a query parameter, a JSON field) and comes back.
    /// let text = first.next.expect("more rows").to_string();
    /// let cursor: Cursor<Invoice> = text.parse()?;
    /// let second = invoices.page(&acme, request.after(Some(cursor))).await?;
    /// assert_eq!(second.items.iter().map(|i| i.id).collect::<Vec<_>>(), [3, 4]);
    /// assert!(second.next.is_none());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn page(&mut self, ctx: &TenantCtx, request: PageRequest<E>) -> Result<Page<E>, Error>
    where
        E::Key: Orderable,
    {
        self.bound(ctx)?;
        let meta = E::META;
        let PageRequest {
            filter,
            order,
            limit,
            after,
        } = request;
        let limit = usize::try_from(limit.max(1)).unwrap_or(usize::MAX);
        let order = order
            .rendered(meta)
            .with_key_kind(<E::Key as Orderable>::KIND);
        let (shape, mut values) = Filter::parts(filter);
        let key = match &self.cursor_key {
            Some(key) => key,
            None => CursorKey::process_default()?,
        };
        let seal = Seal::new(key, ctx.tenant_id(), meta, &order, (&shape, &values));
        if let Some(cursor) = &after {
            push_keyset_values(&mut values, cursor.open(&seal, meta, &order)?);
        }

        let kind = Ordered::Keyset {
            after: after.is_some(),
        };
        let query = ordered_query::<E, X::Database>(kind, &order, &shape, values, ctx);
        let fetch = i64::try_from(limit).unwrap_or(i64::MAX).saturating_add(1);
        let rows = <X::Database as ValueIo>::bind_i64(query, fetch)
            .fetch_all(self.conn.executor())
            .await?;

        let items = rows
            .iter()
            .take(limit)
            .map(E::decode_row)
            .collect::<Result<Vec<_>, _>>()?;
        let next = match rows.get(limit) {
            // One row more than the page: mint the cursor from the page's last row.
            Some(_) => {
                let last = &rows[limit - 1];
                let values = order
                    .terms
                    .iter()
                    .zip(&order.kinds)
                    .map(|(term, &kind)| {
                        <X::Database as ValueIo>::value_at(last, term.column, kind)
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Some(Cursor::mint(&seal, &values))
            }
            None => None,
        };
        Ok(Page { items, next })
    }

    /// Rows of `ctx`'s tenant, selected by a builder: [`filter`](Select::filter),
    /// [`order`](Select::order) (by key unless given), [`limit`](Select::limit) and
    /// [`offset`](Select::offset), then [`all`](Select::all) for a `Vec` or
    /// [`stream`](Select::stream) for a row at a time. For pages a client steps through, prefer
    /// [`page`](Self::page): an offset costs the rows it skips and shifts when rows are
    /// inserted.
    ///
    /// ```
    /// # use tenant::{tenant_scoped, Plan, TenantCtx, TenantId};
    /// # #[tenant_scoped(table = "invoices")]
    /// # pub struct Invoice { #[key] pub id: i64, #[tenant] pub tenant_id: TenantId, pub customer: String, pub amount_cents: i64 }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let pool = sqlx::SqlitePool::connect("sqlite::memory:").await?;
    /// let mut invoices = InvoiceRepo::new(&pool);
    /// invoices.create_table().await?;
    /// let acme = TenantCtx::trusted("acme".parse()?, "tenant_acme".parse()?, Plan::Free);
    /// for (id, amount_cents) in [(1, 500), (2, 900), (3, 700)] {
    ///     invoices.insert(&acme, NewInvoice { id, customer: "coyote".into(), amount_cents }).await?;
    /// }
    /// let c = Invoice::columns();
    /// let second_biggest = invoices
    ///     .select(&acme)
    ///     .filter(c.customer.eq("coyote"))
    ///     .order(c.amount_cents.desc())
    ///     .limit(1)
    ///     .offset(1)
    ///     .all()
    ///     .await?;
    /// assert_eq!(second_biggest.iter().map(|i| i.id).collect::<Vec<_>>(), [3]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn select<'a>(&'a mut self, ctx: &'a TenantCtx) -> Select<'a, E, X> {
        Select {
            repo: self,
            ctx,
            filter: None,
            order: None,
            limit: None,
            offset: None,
        }
    }
}

/// Appends a cursor's values `v1..vn` in the order the keyset condition binds them (see
/// `sql::read::ordered`): with more than one, v1 for the leading bound; then v1..vi for each i.
fn push_keyset_values(values: &mut Vec<Value>, keyset: Vec<Value>) {
    let n = keyset.len();
    values.reserve(usize::from(n > 1) + n * (n + 1) / 2);
    if n > 1 {
        values.push(keyset[0].clone());
    }
    for i in 1..=n {
        values.extend_from_slice(&keyset[..i]);
    }
}

/// The ordered read of `kind` (a keyset page or a select) of `E` in `order`, filtered by `shape`,
/// with `values` bound (the filter's, then a cursor's), then the tenant; the caller binds a limit
/// and an offset after, if the statement has them.
fn ordered_query<E: EntityIo<DB>, DB: Backend>(
    kind: Ordered,
    order: &Resolved,
    shape: &[Node],
    values: Vec<Value>,
    ctx: &TenantCtx,
) -> Query<'static, DB> {
    let sql = E::statements().ordered(E::META, DB::DIALECT, kind, &order.terms, shape);
    let arguments = DB::arguments_from(Values(values));
    let query = sqlx::query_with(AssertSqlSafe(sql), arguments);
    DB::bind_tenant(query, ctx.tenant_id())
}

/// A read of `ctx`'s tenant's rows being built by [`Repo::select`]: the tenant is fixed when it
/// is created, everything else narrows within it.
///
/// ```
/// # use tenant::{tenant_scoped, Plan, TenantCtx, TenantId};
/// # #[tenant_scoped(table = "invoices")]
/// # pub struct Invoice { #[key] pub id: i64, #[tenant] pub tenant_id: TenantId, pub amount_cents: i64 }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let pool = sqlx::SqlitePool::connect("sqlite::memory:").await?;
/// # let mut invoices = InvoiceRepo::new(&pool);
/// # invoices.create_table().await?;
/// let acme = TenantCtx::trusted("acme".parse()?, "tenant_acme".parse()?, Plan::Free);
/// let c = Invoice::columns();
/// let top_ten = invoices.select(&acme).order(c.amount_cents.desc()).limit(10).all().await?;
/// assert!(top_ten.is_empty());
/// # Ok(())
/// # }
/// ```
#[must_use = "a select does nothing until `all` or `stream`"]
pub struct Select<'a, E, X> {
    repo: &'a mut Repo<E, X>,
    ctx: &'a TenantCtx,
    filter: Option<Filter<E>>,
    order: Option<Order<E>>,
    limit: Option<u64>,
    offset: Option<u64>,
}

impl<'a, E, X> Select<'a, E, X> {
    /// Only rows satisfying `filter` (ANDed with a filter given before).
    pub fn filter(mut self, filter: Filter<E>) -> Self {
        self.filter = Some(Filter::combined(self.filter.take(), filter));
        self
    }

    /// Rows in `order` (after an order given before, among the rows it ties); the key breaks
    /// the remaining ties. Without one, rows come by key.
    pub fn order(mut self, order: Order<E>) -> Self {
        self.order = Some(match self.order.take() {
            Some(before) => before.then(order),
            None => order,
        });
        self
    }

    /// At most `limit` rows.
    pub fn limit(mut self, limit: u64) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Skips the first `offset` rows (of the order).
    pub fn offset(mut self, offset: u64) -> Self {
        self.offset = Some(offset);
        self
    }
}

impl<'a, E, X> Select<'a, E, X>
where
    X: Conn,
    E: EntityIo<X::Database>,
{
    /// The statement, its values bound: the filter's, the tenant, then the limit and offset.
    fn into_query(self) -> (&'a mut Repo<E, X>, Query<'static, X::Database>) {
        let meta = E::META;
        let order = match &self.order {
            Some(order) => order.rendered(meta),
            None => Resolved::by_key(meta),
        };
        let (shape, values) = Filter::parts(self.filter);
        let kind = Ordered::Rows {
            limit: self.limit.is_some(),
            offset: self.offset.is_some(),
        };
        let mut query = ordered_query::<E, X::Database>(kind, &order, &shape, values, self.ctx);
        let clamp = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        if self.limit.is_some() || self.offset.is_some() {
            let limit = self.limit.map_or(i64::MAX, clamp);
            query = <X::Database as ValueIo>::bind_i64(query, limit);
        }
        if let Some(offset) = self.offset {
            query = <X::Database as ValueIo>::bind_i64(query, clamp(offset));
        }
        (self.repo, query)
    }

    /// Every selected row, in order.
    pub async fn all(self) -> Result<Vec<E>, Error> {
        self.repo.bound(self.ctx)?;
        let (repo, query) = self.into_query();
        Ok(query
            .try_map(|row| E::decode_row(&row))
            .fetch_all(repo.conn.executor())
            .await?)
    }

    /// The selected rows in order, one at a time as the database returns them, without
    /// holding them all in memory. The repository (and its connection) is borrowed until the
    /// stream is dropped.
    ///
    /// ```
    /// # use tenant::{tenant_scoped, Plan, TenantCtx, TenantId};
    /// use futures::TryStreamExt as _;
    /// # #[tenant_scoped(table = "events")]
    /// # pub struct Event { #[key] pub id: i64, #[tenant] pub tenant_id: TenantId, pub kind: String }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let pool = sqlx::SqlitePool::connect("sqlite::memory:").await?;
    /// let mut events = EventRepo::new(&pool);
    /// events.create_table().await?;
    /// let acme = TenantCtx::trusted("acme".parse()?, "tenant_acme".parse()?, Plan::Free);
    /// for id in 1..=1000 {
    ///     let kind = if id % 10 == 0 { "refund" } else { "sale" };
    ///     events.insert(&acme, NewEvent { id, kind: kind.into() }).await?;
    /// }
    ///
    /// let c = Event::columns();
    /// let mut refunds = events.select(&acme).filter(c.kind.eq("refund")).order(c.id.desc()).stream();
    /// let mut seen = 0;
    /// while let Some(event) = refunds.try_next().await? {
    ///     assert_eq!(event.id, 1000 - 10 * seen);
    ///     seen += 1;
    /// }
    /// assert_eq!(seen, 100);
    /// # Ok(())
    /// # }
    /// ```
    pub fn stream(self) -> impl Stream<Item = Result<E, Error>> + Send + 'a {
        // A refused context is the stream's one item, before any statement is sent.
        if let Err(refused) = self.repo.bound(self.ctx) {
            return futures_util::future::Either::Left(futures_util::stream::once(
                std::future::ready(Err(refused)),
            ));
        }
        let (repo, query) = self.into_query();
        futures_util::future::Either::Right(
            query
                .try_map(|row| E::decode_row(&row))
                .fetch(repo.conn.executor())
                .map_err(Error::from),
        )
    }
}

impl<E, X> fmt::Debug for Select<'_, E, X> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Select")
            .field("tenant", self.ctx.tenant_id())
            .field("filter", &self.filter)
            .field("order", &self.order)
            .field("limit", &self.limit)
            .field("offset", &self.offset)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyset_values_are_bound_in_the_order_the_statement_takes_them() {
        let v = |n: i64| Value::from(n);
        let mut values = vec![v(0)];
        push_keyset_values(&mut values, vec![v(1), v(2), v(3)]);
        let expected = [0, 1, 1, 1, 2, 1, 2, 3].map(v);
        assert_eq!(values, expected);
        let mut single = Vec::new();
        push_keyset_values(&mut single, vec![v(9)]);
        assert_eq!(single, [v(9)]);
    }
}
