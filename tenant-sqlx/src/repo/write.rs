//! Bulk and conditional writes: `update_where`, `insert_many` and `upsert`. Each statement
//! carries `ctx`'s tenant like every other (see `sql/write.rs` for the order of the placeholders).

use sqlx::AssertSqlSafe;

use super::backend::{Backend, Conn, WriteConn};
use super::entity::{Entity, EntityIo};
use super::filter::Filter;
use super::repository::Repo;
use super::value::Query;
use crate::error::Error;
use tenant_core::TenantCtx;

/// An entity whose key the caller supplies (every `#[key]` but `#[key(generated)]`): one that
/// [`Repo::upsert`] can conflict on. Implemented by `#[tenant_scoped]`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` has a database-generated key: `upsert` has no key to conflict on",
    label = "`#[key(generated)]` entity",
    note = "a `New{Self}` has no key, so its insert never conflicts: use `insert`, and `update` or `update_where`"
)]
pub trait SuppliedKey: Entity {}

/// The rows of each statement of a batch of `rows` rows, at most `chunk` per statement: full
/// chunks, then the rest in one statement of its exact size. A batch that fits one chunk is one
/// statement: splitting it further (as powers of two, to cache fewer sizes) made SQLite 1.2 to
/// 1.9 times slower than one statement of the batch.
fn chunk_sizes(rows: usize, chunk: usize) -> impl Iterator<Item = usize> {
    let chunk = chunk.max(1);
    let rest = rows % chunk;
    std::iter::repeat_n(chunk, rows / chunk).chain((rest > 0).then_some(rest))
}

impl<E, X> Repo<E, X>
where
    X: Conn,
    E: EntityIo<X::Database>,
{
    /// Applies the fields `patch` sets to every row of `ctx`'s tenant that satisfies `filter`,
    /// in one UPDATE, and returns how many rows changed. The tenant predicate is ANDed outside
    /// the filter: a filter that matches everything updates every row of this tenant and none
    /// of another's. A patch that sets nothing is an [`Error::EmptyPatch`]; a patched `#[unique]`
    /// value that another row of the tenant holds is an [`Error::Conflict`]; a patched
    /// `#[belongs_to]` value that names no parent of this tenant is an [`Error::ForeignKey`].
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
    /// let globex = TenantCtx::trusted("globex".parse()?, "tenant_globex".parse()?, Plan::Free);
    /// for id in 1..=3 {
    ///     let new = || NewInvoice { id, customer: "coyote".into(), paid: false };
    ///     invoices.insert(&acme, new()).await?;
    ///     invoices.insert(&globex, new()).await?;
    /// }
    /// let c = Invoice::columns();
    /// let paid = InvoicePatch { paid: Some(true), ..Default::default() };
    /// assert_eq!(invoices.update_where(&acme, c.customer.eq("coyote"), paid).await?, 3);
    /// assert_eq!(invoices.count_where(&globex, c.paid.eq(true)).await?, 0);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn update_where(
        &mut self,
        ctx: &TenantCtx,
        filter: Filter<E>,
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
        let dialect = <X::Database as Backend>::DIALECT;
        let sql = E::statements().update_where(E::META, dialect, mask, &filter.shape);
        // Placeholders in text order: the patch, the filter's values, the tenant.
        let mut query = E::bind_patch(sqlx::query(AssertSqlSafe(sql)), patch);
        for value in filter.values {
            query = <X::Database as Backend>::bind_value(query, value).map_err(|value| {
                let message = format!("{}: cannot bind filter value {value:?}", E::META.table);
                Error::Database(sqlx::Error::Encode(message.into()))
            })?;
        }
        let done = <X::Database as Backend>::bind_tenant(query, ctx.tenant_id())
            .execute(self.conn.executor())
            .await
            .map_err(|e| Error::from_write(E::META.table, e))?;
        Ok(<X::Database as Backend>::rows_affected(&done))
    }

    /// Inserts `rows`, all owned by `ctx`'s tenant, and returns how many were inserted. The
    /// repository binds the tenant into every row; [`New`](Entity::New) has no field for it.
    ///
    /// Rows go in multi-row `VALUES` statements of as many rows as the backend's limit on
    /// placeholders allows (SQLite 32766, PostgreSQL 65535, divided by the columns of a row);
    /// see the note on statement sizes below. All or nothing: a batch that takes more than
    /// one statement runs them in one transaction, begun on the handle (on a pool, on the
    /// connection it acquires; on a transaction, as a savepoint inside it), so a failure leaves
    /// no row of the batch behind. A row that collides with a row of the same tenant (same key
    /// or `#[unique]` value, in the table or in the batch) is an [`Error::Conflict`], a row whose
    /// `#[belongs_to]` value names no parent of this tenant an [`Error::ForeignKey`]. No rows:
    /// `Ok(0)`, without touching the database. The rows are not read back: use
    /// [`insert`](Self::insert) for generated values.
    ///
    /// Statement sizes: full chunks, then the rest of the batch in one statement (1,000 rows
    /// of a few columns are one statement). The statement of each size is rendered once and
    /// cached, up to 64 sizes and 2 MiB of SQL per entity and backend; a size beyond that is
    /// rendered for its call and prepared for that call only, so that a program sending many
    /// different batch sizes does not push its other statements out of the connection's cache
    /// of prepared statements. Preparing a 1,000-row statement costs about a quarter of the
    /// insert on SQLite and nothing measurable on PostgreSQL, so a program whose batches have
    /// a steady size should let that size be among the first it sends.
    ///
    /// ```
    /// # use tenant::{tenant_scoped, Plan, TenantCtx, TenantId};
    /// # #[tenant_scoped(table = "readings")]
    /// # pub struct Reading { #[key] pub id: i64, #[tenant] pub tenant_id: TenantId, pub celsius: f64 }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let pool = sqlx::SqlitePool::connect("sqlite::memory:").await?;
    /// let mut readings = ReadingRepo::new(&pool);
    /// readings.create_table().await?;
    /// let acme = TenantCtx::trusted("acme".parse()?, "tenant_acme".parse()?, Plan::Free);
    /// let rows = (1..=1000).map(|id| NewReading { id, celsius: 20.5 });
    /// assert_eq!(readings.insert_many(&acme, rows).await?, 1000);
    /// assert_eq!(readings.count(&acme).await?, 1000);
    /// // One duplicate key: nothing of the batch is inserted.
    /// let clash = [NewReading { id: 2001, celsius: 1.0 }, NewReading { id: 1, celsius: 1.0 }];
    /// assert!(readings.insert_many(&acme, clash).await.is_err());
    /// assert_eq!(readings.count(&acme).await?, 1000);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn insert_many(
        &mut self,
        ctx: &TenantCtx,
        rows: impl IntoIterator<Item = E::New>,
    ) -> Result<u64, Error>
    where
        X: WriteConn,
    {
        self.bound(ctx)?;
        let rows: Vec<E::New> = rows.into_iter().collect();
        if rows.is_empty() {
            return Ok(0);
        }
        let per_row = 1 + E::META.inserted().count();
        let chunk = <X::Database as Backend>::MAX_BINDS / per_row;
        let sizes: Vec<usize> = chunk_sizes(rows.len(), chunk).collect();
        let conflict = |e| Error::from_write(E::META.table, e);
        if sizes.len() == 1 {
            // One statement: atomic by itself.
            let done = Self::insert_rows(ctx, &rows)
                .execute(self.conn.executor())
                .await
                .map_err(conflict)?;
            return Ok(<X::Database as Backend>::rows_affected(&done));
        }
        let mut tx = self.conn.begin(super::backend::Token::new()).await?;
        let mut inserted = 0;
        let mut rest = rows.as_slice();
        for size in sizes {
            let (statement_rows, tail) = rest.split_at(size);
            rest = tail;
            let done = Self::insert_rows(ctx, statement_rows)
                .execute(<X::Database as Backend>::in_transaction(&mut tx))
                .await
                .map_err(conflict)?;
            inserted += <X::Database as Backend>::rows_affected(&done);
        }
        tx.commit().await?;
        Ok(inserted)
    }

    /// One multi-row INSERT of `rows`, each bound as the tenant then its fields.
    fn insert_rows(ctx: &TenantCtx, rows: &[E::New]) -> Query<'static, X::Database> {
        let dialect = <X::Database as Backend>::DIALECT;
        let (sql, cached) = E::statements().insert_many(E::META, dialect, rows.len());
        // A size our cache does not keep would take a slot of sqlx's (an LRU of 100 per
        // connection) and likely never be used again: prepare it for this call only.
        let mut query = sqlx::query(AssertSqlSafe(sql)).persistent(cached);
        for new in rows {
            query = E::bind_new(
                <X::Database as Backend>::bind_tenant(query, ctx.tenant_id()),
                new,
            );
        }
        query
    }

    /// Inserts `new` for `ctx`'s tenant or, when the tenant already has a row with its key,
    /// applies `patch` to that row; returns the row as stored. One statement:
    /// `INSERT .. ON CONFLICT (tenant, key) DO UPDATE SET <patched> .. RETURNING ..`. The tenant
    /// leads the conflict target, so another tenant's row with the same key is never touched:
    /// the insert goes ahead and the caller gets a row of its own.
    ///
    /// An empty patch means "insert, or leave the existing row as it is": the row is set to its
    /// own key (a no-op write) so that the statement still returns it. A `#[unique]` value that
    /// another row of the tenant holds is an [`Error::Conflict`], and a `#[belongs_to]` value
    /// (inserted or patched) that names no parent of this tenant an [`Error::ForeignKey`].
    /// [`Patch`](Entity::Patch) has
    /// no key or tenant field, so an upsert cannot move a row; entities with a generated key
    /// have no key to conflict on and do not implement [`SuppliedKey`].
    ///
    /// ```
    /// # use tenant::{tenant_scoped, Plan, TenantCtx, TenantId};
    /// # #[tenant_scoped(table = "counters")]
    /// # pub struct Counter { #[key] pub name: String, #[tenant] pub tenant_id: TenantId, pub hits: i64 }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let pool = sqlx::SqlitePool::connect("sqlite::memory:").await?;
    /// let mut counters = CounterRepo::new(&pool);
    /// counters.create_table().await?;
    /// let acme = TenantCtx::trusted("acme".parse()?, "tenant_acme".parse()?, Plan::Free);
    /// let new = || NewCounter { name: "home".into(), hits: 1 };
    /// let set = |hits| CounterPatch { hits: Some(hits) };
    /// assert_eq!(counters.upsert(&acme, new(), set(7)).await?.hits, 1); // inserted
    /// assert_eq!(counters.upsert(&acme, new(), set(7)).await?.hits, 7); // updated
    /// assert_eq!(counters.upsert(&acme, new(), CounterPatch::default()).await?.hits, 7); // kept
    /// # Ok(())
    /// # }
    /// ```
    pub async fn upsert(
        &mut self,
        ctx: &TenantCtx,
        new: E::New,
        patch: E::Patch,
    ) -> Result<E, Error>
    where
        X: WriteConn,
        E: SuppliedKey,
    {
        self.bound(ctx)?;
        let mask = E::patch_mask(&patch);
        let dialect = <X::Database as Backend>::DIALECT;
        let sql = E::statements().upsert(E::META, dialect, mask);
        // Placeholders in text order: the tenant and the new row, then the patch.
        let query =
            <X::Database as Backend>::bind_tenant(sqlx::query(AssertSqlSafe(sql)), ctx.tenant_id());
        E::bind_patch(E::bind_new(query, &new), patch)
            .try_map(|row| E::decode_row(&row))
            .fetch_one(self.conn.executor())
            .await
            .map_err(|e| Error::from_write(E::META.table, e))
    }
}

#[cfg(test)]
mod tests {
    use super::chunk_sizes;

    #[test]
    fn chunks_are_full_then_one_of_the_rest() {
        let plan = |rows| chunk_sizes(rows, 4095).collect::<Vec<_>>();
        assert_eq!(plan(1000), [1000]);
        assert_eq!(plan(4095), [4095]);
        assert_eq!(plan(4096), [4095, 1]);
        assert_eq!(plan(20_000), [4095, 4095, 4095, 4095, 3620]);
        assert_eq!(plan(8190), [4095, 4095]);
        assert!(plan(0).is_empty());
        for rows in [1, 7, 999, 12_345] {
            assert_eq!(plan(rows).iter().sum::<usize>(), rows);
        }
        // A chunk of 0 (a row wider than the bind limit) still makes progress.
        assert_eq!(chunk_sizes(3, 0).collect::<Vec<_>>(), [1, 1, 1]);
    }
}
