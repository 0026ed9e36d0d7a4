//! The typed filter of `list_where`: predicates on an entity's columns, combined with AND.

use std::fmt;
use std::marker::PhantomData;

use sea_query::Value;

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

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
    index: usize,
    entity: PhantomData<fn() -> (E, T)>,
}

impl<E: super::Entity, T> Col<E, T> {
    /// The column at index `I` of `E`'s table, for the code `#[tenant_scoped]` generates. Not a
    /// public API: an index past the table's columns, or the tenant's own, does not compile (it
    /// is checked when the constant is evaluated), so a hand-made column can neither panic nor
    /// filter by the tenant.
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
                                        Filter::predicate(self.index, Op::$op, value.into().into())
                }
            )*
        }
    };
}

comparisons! {
    /// `column = value`.
    eq => Eq,
    /// `column <> value`.
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

/// Predicates on the columns of entity `E`, all of which a row must satisfy, on top of the
/// tenant filter that every repository call adds.
pub struct Filter<E> {
    /// Column and operator of each predicate: the statement cache's key.
    pub(crate) shape: Vec<(usize, Op)>,
    /// The values, bound in predicate order.
    pub(crate) values: Vec<Value>,
    entity: PhantomData<fn() -> E>,
}

/// Predicates a filter holds without reallocating; most filters have fewer.
const INLINE_PREDICATES: usize = 4;

impl<E> Filter<E> {
    fn predicate(column: usize, op: Op, value: Value) -> Self {
        let mut shape = Vec::with_capacity(INLINE_PREDICATES);
        let mut values = Vec::with_capacity(INLINE_PREDICATES);
        shape.push((column, op));
        values.push(value);
        Filter {
            shape,
            values,
            entity: PhantomData,
        }
    }

    /// Both filters must hold.
    pub fn and(mut self, other: Filter<E>) -> Filter<E> {
        self.shape.extend(other.shape);
        self.values.extend(other.values);
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
