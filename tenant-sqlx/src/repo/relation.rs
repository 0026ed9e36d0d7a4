//! Relations that carry the tenant: `#[belongs_to(Parent)]` fields, their composite foreign keys
//! (DDL in `sql/ddl.rs`), and [`Repo::with_parent`], the scoped read of children with their parents.

use super::backend::{Backend, Conn};
use super::entity::{Entity, EntityIo};
use super::filter::Filter;
use super::meta::EntityMeta;
use super::repository::Repo;
use crate::error::Error;
use tenant_core::TenantCtx;

/// `Self` has a `#[belongs_to(P)]` field: its rows point at rows of `P` of the same tenant,
/// through the composite foreign key `(tenant, field) REFERENCES p (tenant, key)`. Implemented
/// by `#[tenant_scoped]`, once per parent, for [`Repo::with_parent`].
///
/// ```
/// # use tenant::{tenant_scoped, TenantId};
/// # use tenant::sqlx::BelongsTo;
/// #[tenant_scoped(table = "customers")]
/// pub struct Customer {
///     #[key] pub id: i64,
///     #[tenant] pub tenant_id: TenantId,
///     pub name: String,
/// }
///
/// #[tenant_scoped(table = "orders")]
/// pub struct Order {
///     #[key] pub id: i64,
///     #[tenant] pub tenant_id: TenantId,
///     // FOREIGN KEY ("tenant_id", "customer_id") REFERENCES "customers" ("tenant_id", "id")
///     #[belongs_to(Customer)] pub customer_id: i64,
///     // An `Option`: an order may have no referrer (NULL refers to nothing).
///     #[belongs_to(Referrer)] pub referrer_id: Option<String>,
/// }
///
/// #[tenant_scoped(table = "referrers")]
/// pub struct Referrer {
///     #[key] pub code: String,
///     #[tenant] pub tenant_id: TenantId,
/// }
///
/// fn joinable<C: BelongsTo<P>, P: tenant::sqlx::Entity>() {}
/// joinable::<Order, Customer>();
/// joinable::<Order, Referrer>();
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not belong to `{P}`",
    label = "`{Self}` has no `#[belongs_to({P})]` field",
    note = "mark the field of `{Self}` that holds the key of a `{P}` with `#[belongs_to({P})]`"
)]
pub trait BelongsTo<P: Entity>: Entity {
    /// The type of the `#[belongs_to]` field: `P::Key`, or `Option<P::Key>`.
    #[doc(hidden)]
    type Field: ForeignKeyOf<P::Key>;

    /// The index of the `#[belongs_to]` column in the entity's columns.
    #[doc(hidden)]
    const COLUMN: usize;

    /// `P`'s table, for the `ColumnMeta` of the `#[belongs_to(P)]` field: a function rather
    /// than the constant, so an entity can belong to itself. (Reached through this trait, so a
    /// parent that is not an entity is reported once, where the trait names it.)
    #[doc(hidden)]
    fn parent_meta() -> &'static EntityMeta {
        P::META
    }
}

/// A field type that can hold a parent's key of type `K`: `K` itself, or `Option<K>` for a row
/// that may have no parent. For the code `#[tenant_scoped]` generates.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "a #[belongs_to] field of type `{Self}` cannot hold the parent's key, of type `{K}`",
    label = "expected `{K}` or `Option<{K}>`",
    note = "a foreign key column has the type of the parent's #[key] field, or an `Option` of it when a row may have no parent"
)]
pub trait ForeignKeyOf<K> {}

impl<K> ForeignKeyOf<K> for K {}

impl<K> ForeignKeyOf<K> for Option<K> {}

impl<E, X> Repo<E, X>
where
    X: Conn,
    E: EntityIo<X::Database>,
{
    /// The rows of `ctx`'s tenant that satisfy `filter` (`None`: every row), each with its
    /// `#[belongs_to(P)]` parent, in one statement, ordered by the child's key:
    ///
    /// ```sql
    /// SELECT child.*, parent.* FROM orders AS child
    /// JOIN customers AS parent
    ///   ON parent.tenant_id = child.tenant_id AND parent.id = child.customer_id
    /// WHERE (<filter>) AND child.tenant_id = $1 AND parent.tenant_id = $2
    /// ```
    ///
    /// Both sides carry the tenant predicate, and the join matches the tenant columns as well as
    /// the key, so a pair never mixes tenants even if the database held a row pointing across.
    /// An inner join: a child whose `Option` foreign key is `None` has no pair. To read the
    /// children of one parent, filter on the foreign key column
    /// (`Order::columns().customer_id.eq(key)`), with `list_where` or here.
    ///
    /// Only a parent the child `#[belongs_to]` can be joined: `with_parent::<Unrelated>` does not
    /// compile.
    ///
    /// ```
    /// # use tenant::{tenant_scoped, Plan, TenantCtx, TenantId};
    /// #[tenant_scoped(table = "customers")]
    /// pub struct Customer {
    ///     #[key] pub id: i64,
    ///     #[tenant] pub tenant_id: TenantId,
    ///     pub name: String,
    /// }
    ///
    /// #[tenant_scoped(table = "orders")]
    /// pub struct Order {
    ///     #[key] pub id: i64,
    ///     #[tenant] pub tenant_id: TenantId,
    ///     #[belongs_to(Customer)] pub customer_id: i64,
    ///     pub total: i64,
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let pool = sqlx::SqlitePool::connect("sqlite::memory:").await?;
    /// let (mut customers, mut orders) = (CustomerRepo::new(&pool), OrderRepo::new(&pool));
    /// customers.create_table().await?; // the parent first
    /// orders.create_table().await?;
    /// let acme = TenantCtx::trusted("acme".parse()?, "tenant_acme".parse()?, Plan::Free);
    /// let globex = TenantCtx::trusted("globex".parse()?, "tenant_globex".parse()?, Plan::Free);
    /// for (ctx, name) in [(&acme, "Wile E."), (&globex, "Hank")] {
    ///     customers.insert(ctx, NewCustomer { id: 1, name: name.into() }).await?;
    ///     orders.insert(ctx, NewOrder { id: 10, customer_id: 1, total: 5 }).await?;
    /// }
    ///
    /// let pairs = orders.with_parent::<Customer>(&acme, Order::columns().total.gt(1)).await?;
    /// let [(order, customer)] = pairs.as_slice() else { panic!("one pair") };
    /// assert_eq!((order.id, customer.name.as_str()), (10, "Wile E."));
    /// assert_eq!(orders.with_parent::<Customer>(&globex, None).await?[0].1.name, "Hank");
    /// # Ok(())
    /// # }
    /// ```
    pub async fn with_parent<P>(
        &mut self,
        ctx: &TenantCtx,
        filter: impl Into<Option<Filter<E>>>,
    ) -> Result<Vec<(E, P)>, Error>
    where
        E: BelongsTo<P>,
        P: EntityIo<X::Database>,
    {
        self.bound(ctx)?;
        let filter = filter.into().unwrap_or_else(Filter::empty);
        let dialect = <X::Database as Backend>::DIALECT;
        let sql = E::statements().with_parent(E::META, P::META, dialect, E::COLUMN, &filter.shape);
        // Placeholders in text order: the filter's values, the child's tenant, the parent's.
        let query = Self::bind_filter(sql, ctx, filter);
        let query = <X::Database as Backend>::bind_tenant(query, ctx.tenant_id());
        let offset = E::META.columns.len();
        Ok(query
            .try_map(|row| Ok((E::decode_row_at(&row, 0)?, P::decode_row_at(&row, offset)?)))
            .fetch_all(self.conn.executor())
            .await?)
    }
}
