//! The typed filter of `list_where`, `count_where` and `exists`: predicates on an entity's
//! columns, combined with `and`, `or` and `not`. Every statement also carries the tenant
//! predicate, ANDed outside whatever the filter says.

use std::fmt;
use std::marker::PhantomData;

use sea_query::Value;

use super::entity::Entity;
use super::shape::{Node, Op};

/// A column of entity `E` holding values of type `T`, for building a [`Filter<E>`].
///
/// `#[tenant_scoped]` generates one per non-tenant field, on `<Entity>Columns`, reachable as
/// `<Entity>::columns()`. The tenant column has none: a repository already filters by it, and a
/// caller has no business naming another tenant.
///
/// ```
/// # use tenant::{tenant_scoped, TenantId};
/// # #[tenant_scoped(table = "invoices")]
/// # pub struct Invoice { #[key] pub id: i64, #[tenant] pub tenant_id: TenantId, pub customer: String, pub amount_cents: i64 }
/// let c = Invoice::columns();
/// let big_acme_invoices = c.amount_cents.ge(10_000).and(c.customer.eq("acme"));
/// # let _ = big_acme_invoices;
/// ```
pub struct Col<E, T> {
    pub(super) index: usize,
    entity: PhantomData<fn() -> (E, T)>,
}

impl<E: Entity, T> Col<E, T> {
    /// The column at index `I` of `E`'s table, for the code `#[tenant_scoped]` generates. Not a
    /// public API: an index past the table's columns, or the tenant's own, does not compile (it
    /// is checked when the constant is evaluated), so a hand-made column can neither panic nor
    /// filter by the tenant.
    ///
    /// The check runs when the constructor is instantiated, which `cargo check` (and so
    /// trybuild without compile-pass cases) never does; this example is compiled in full:
    ///
    /// ```compile_fail,E0080
    /// # use tenant::{tenant_scoped, TenantId};
    /// # #[tenant_scoped(table = "invoices")]
    /// # pub struct Invoice { #[key] pub id: i64, #[tenant] pub tenant_id: TenantId, pub amount_cents: i64 }
    /// let past_the_end = tenant::sqlx::Col::<Invoice, i64>::new::<99>();
    /// # let _ = past_the_end.eq(1);
    /// ```
    #[doc(hidden)]
    pub const fn new<const I: usize>() -> Self {
        const {
            assert!(
                I < E::META.columns.len(),
                "no such column: take columns from `<Entity>::columns()`"
            );
            assert!(
                I != E::META.tenant,
                "the tenant column cannot be filtered on: the repository already does"
            );
        }
        Col {
            index: I,
            entity: PhantomData,
        }
    }
}

impl<E, T> Clone for Col<E, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<E, T> Copy for Col<E, T> {}

impl<E, T> fmt::Debug for Col<E, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Col").field("index", &self.index).finish()
    }
}

macro_rules! comparisons {
    ($($(#[$doc:meta])* $name:ident => $op:ident,)*) => {
        impl<E, T: Into<Value>> Col<E, T> {
            $(
                $(#[$doc])*
                pub fn $name(self, value: impl Into<T>) -> Filter<E> {
                    Filter::leaf(Node::Cmp(self.index, Op::$op), [value.into().into()])
                }
            )*
        }
    };
}

comparisons! {
    /// `column = value`. A null never equals anything in SQL: for an `Option` column, match
    /// `None` with [`is_null`](Col::is_null).
    eq => Eq,
    /// `column <> value` (false for a null column: see [`is_not_null`](Col::is_not_null)).
    ne => Ne,
    /// `column < value`.
    lt => Lt,
    /// `column <= value`.
    le => Le,
    /// `column > value`.
    gt => Gt,
    /// `column >= value`.
    ge => Ge,
}

impl<E, T: Into<Value>> Col<E, T> {
    /// `column IN (values..)`. No values match nothing.
    ///
    /// ```
    /// # use tenant::{tenant_scoped, TenantId};
    /// # #[tenant_scoped(table = "invoices")]
    /// # pub struct Invoice { #[key] pub id: i64, #[tenant] pub tenant_id: TenantId, pub customer: String, pub note: Option<String> }
    /// let c = Invoice::columns();
    /// let some = c.id.is_in([1, 2, 3]).or(c.customer.starts_with("acme"));
    /// let none_of = c.id.not_in([4, 5]).and(c.note.is_null().not());
    /// # let _ = (some, none_of);
    /// ```
    pub fn is_in<V: Into<T>>(self, values: impl IntoIterator<Item = V>) -> Filter<E> {
        let values: Vec<Value> = values.into_iter().map(|v| v.into().into()).collect();
        Filter::leaf(Node::In(self.index, values.len()), values)
    }

    /// `column NOT IN (values..)`. No values match every row of the tenant.
    pub fn not_in<V: Into<T>>(self, values: impl IntoIterator<Item = V>) -> Filter<E> {
        self.is_in(values).not()
    }
}

// No value is bound, so any column type will do, a user type without `Into<Value>` included.
impl<E, T> Col<E, T> {
    /// `column IS NULL`.
    pub fn is_null(self) -> Filter<E> {
        Filter::leaf(Node::IsNull(self.index), [])
    }

    /// `column IS NOT NULL`.
    pub fn is_not_null(self) -> Filter<E> {
        self.is_null().not()
    }
}

/// Pattern matching, on text columns only.
pub trait TextColumn {}
impl TextColumn for String {}
impl TextColumn for Option<String> {}

impl<E, T: TextColumn> Col<E, T> {
    /// `column LIKE pattern ESCAPE '\'`: `%` matches any run of characters and `_` any one;
    /// write `\%`, `\_` and `\\` for the characters themselves. Case follows the database
    /// (PostgreSQL: case-sensitive; SQLite: case-insensitive for ASCII).
    pub fn like(self, pattern: impl Into<String>) -> Filter<E> {
        Filter::leaf(
            Node::Cmp(self.index, Op::Like),
            [Value::from(pattern.into())],
        )
    }

    /// Values that start with `prefix`, taken literally: `%`, `_` and `\` in it are escaped.
    ///
    /// ```
    /// # use tenant::{tenant_scoped, TenantId};
    /// # #[tenant_scoped(table = "invoices")]
    /// # pub struct Invoice { #[key] pub id: i64, #[tenant] pub tenant_id: TenantId, pub number: String }
    /// // Matches `50%-off…`, not `50 percent…`.
    /// let promo = Invoice::columns().number.starts_with("50%");
    /// # let _ = promo;
    /// ```
    pub fn starts_with(self, prefix: &str) -> Filter<E> {
        let mut pattern = escape_like(prefix);
        pattern.push('%');
        self.like(pattern)
    }
}

/// `text` as a LIKE pattern (escape character `\`) that matches exactly `text`.
pub(crate) fn escape_like(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len() + 4);
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// Predicates on the columns of entity `E` that a row must satisfy, on top of the tenant filter
/// that every repository call adds (ANDed outside the filter, so no `or` can escape it).
pub struct Filter<E> {
    /// The nodes in postfix order: the statement cache's key.
    pub(crate) shape: Vec<Node>,
    /// The values, bound in the order of the leaves.
    pub(crate) values: Vec<Value>,
    entity: PhantomData<fn() -> E>,
}

/// Nodes and values a filter holds without reallocating; most filters have fewer.
const INLINE_PREDICATES: usize = 4;

impl<E> Filter<E> {
    /// No predicate: only the tenant's, which every statement adds. Not public: combined with
    /// `and`/`or`, an empty side would leave an operator without its operand.
    pub(crate) fn empty() -> Self {
        Filter {
            shape: Vec::new(),
            values: Vec::new(),
            entity: PhantomData,
        }
    }

    fn leaf(node: Node, values: impl IntoIterator<Item = Value>) -> Self {
        let mut shape = Vec::with_capacity(INLINE_PREDICATES);
        let mut values_vec = Vec::with_capacity(INLINE_PREDICATES);
        shape.push(node);
        values_vec.extend(values);
        Filter {
            shape,
            values: values_vec,
            entity: PhantomData,
        }
    }

    /// The filter every row satisfies: with it, `count_where`, `update_where` and
    /// `delete_where` reach every row of the caller's tenant, and only those.
    ///
    /// ```
    /// # use tenant::{tenant_scoped, Plan, TenantCtx, TenantId};
    /// # use tenant::sqlx::Filter;
    /// # #[tenant_scoped(table = "sessions")]
    /// # pub struct Session { #[key] pub id: i64, #[tenant] pub tenant_id: TenantId }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let pool = sqlx::SqlitePool::connect("sqlite::memory:").await?;
    /// # let mut sessions = SessionRepo::new(&pool);
    /// # sessions.create_table().await?;
    /// let acme = TenantCtx::trusted("acme".parse()?, "tenant_acme".parse()?, Plan::Free);
    /// let globex = TenantCtx::trusted("globex".parse()?, "tenant_globex".parse()?, Plan::Free);
    /// sessions.insert_many(&acme, (1..=3).map(|id| NewSession { id })).await?;
    /// sessions.insert(&globex, NewSession { id: 1 }).await?;
    /// assert_eq!(sessions.delete_where(&acme, Filter::all()).await?, 3);
    /// assert_eq!(sessions.count(&globex).await?, 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn all() -> Filter<E> {
        Filter {
            shape: Vec::new(),
            values: Vec::new(),
            entity: PhantomData,
        }
    }

    /// `filter`, ANDed with the one given `before` if any: what a builder's `filter` does.
    pub(crate) fn combined(before: Option<Filter<E>>, filter: Filter<E>) -> Filter<E> {
        match before {
            Some(before) => before.and(filter),
            None => filter,
        }
    }

    /// The shape and the values of a filter, empty without one.
    pub(crate) fn parts(filter: Option<Filter<E>>) -> (Vec<Node>, Vec<Value>) {
        filter.map_or_else(Default::default, |f| (f.shape, f.values))
    }

    fn combine(mut self, other: Filter<E>, node: Node) -> Filter<E> {
        // `all` has no nodes: it is the identity of `and` and absorbs `or`. Appending the
        // operator to a missing operand would leave a malformed sequence.
        match (self.shape.is_empty(), other.shape.is_empty(), node) {
            (true, _, Node::And) => return other,
            (_, true, Node::And) => return self,
            (true, _, _) | (_, true, _) => return Filter::all(),
            _ => {}
        }
        self.shape.extend(other.shape);
        self.shape.push(node);
        self.values.extend(other.values);
        self
    }

    /// Both filters must hold.
    pub fn and(self, other: Filter<E>) -> Filter<E> {
        self.combine(other, Node::And)
    }

    /// Either filter must hold (still within the caller's tenant).
    pub fn or(self, other: Filter<E>) -> Filter<E> {
        self.combine(other, Node::Or)
    }

    /// The filter must not hold (still within the caller's tenant).
    #[allow(clippy::should_implement_trait)]
    pub fn not(mut self) -> Filter<E> {
        if self.shape.is_empty() {
            // Not all: nothing (`IN ()` with no values renders `1 = 0`).
            return Filter::leaf(Node::In(0, 0), []);
        }
        self.shape.push(Node::Not);
        self
    }
}

impl<E> Clone for Filter<E> {
    fn clone(&self) -> Self {
        Filter {
            shape: self.shape.clone(),
            values: self.values.clone(),
            entity: PhantomData,
        }
    }
}

impl<E> fmt::Debug for Filter<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Filter")
            .field("shape", &self.shape)
            .field("values", &self.values)
            .finish()
    }
}
