//! Typed ordering: `Invoice::columns().amount_cents.desc().then(..)`. The key always ends an
//! order, so rows that tie on every ordered column still come in one fixed order, which keyset
//! pages need to step past a row exactly once.

use std::fmt;
use std::marker::PhantomData;

use super::filter::Col;
use super::meta::EntityMeta;
use super::shape::{Dir, Term};
use super::value::{Orderable, ValueKind};

/// An order of the rows of entity `E`: columns and directions, built from
/// [`Col::asc`]/[`Col::desc`] and chained with [`then`](Order::then).
///
/// The entity's key is always the last tie-breaker (ascending, added when the order does not
/// name it), so rows equal on every ordered column still come in a fixed order and a page
/// boundary never splits or repeats them. Items after the key, and columns named twice, change
/// nothing and are dropped.
///
/// ```
/// # use tenant::{tenant_scoped, TenantId};
/// # #[tenant_scoped(table = "invoices")]
/// # pub struct Invoice { #[key] pub id: i64, #[tenant] pub tenant_id: TenantId, pub customer: String, pub amount_cents: i64 }
/// let c = Invoice::columns();
/// // Biggest first, then by customer, then (implicitly) by id.
/// let order = c.amount_cents.desc().then(c.customer.asc());
/// # let _ = order;
/// ```
pub struct Order<E> {
    /// In order, each with the type of its values.
    pub(crate) items: Vec<(Term, ValueKind)>,
    entity: PhantomData<fn() -> E>,
}

impl<E, T> Col<E, T> {
    /// Ascending order by this column (smallest first).
    ///
    /// ```
    /// # use tenant::{tenant_scoped, TenantId};
    /// # #[tenant_scoped(table = "invoices")]
    /// # pub struct Invoice { #[key] pub id: i64, #[tenant] pub tenant_id: TenantId, pub number: String }
    /// let by_number = Invoice::columns().number.asc();
    /// # let _ = by_number;
    /// ```
    pub fn asc(self) -> Order<E>
    where
        T: Orderable,
    {
        Order::by(self.index, Dir::Asc, T::KIND)
    }

    /// Descending order by this column (largest first).
    pub fn desc(self) -> Order<E>
    where
        T: Orderable,
    {
        Order::by(self.index, Dir::Desc, T::KIND)
    }
}

impl<E> Order<E> {
    fn by(column: usize, dir: Dir, kind: ValueKind) -> Self {
        Order {
            items: vec![(Term { column, dir }, kind)],
            entity: PhantomData,
        }
    }

    /// This order, then `other` among rows this order ties.
    ///
    /// ```
    /// # use tenant::{tenant_scoped, TenantId};
    /// # #[tenant_scoped(table = "invoices")]
    /// # pub struct Invoice { #[key] pub id: i64, #[tenant] pub tenant_id: TenantId, pub paid: bool, pub amount_cents: i64 }
    /// let c = Invoice::columns();
    /// let unpaid_first_then_biggest = c.paid.asc().then(c.amount_cents.desc());
    /// # let _ = unpaid_first_then_biggest;
    /// ```
    pub fn then(mut self, other: Order<E>) -> Order<E> {
        self.items.extend(other.items);
        self
    }

    /// The order as rendered: each column once, ending with the key (ascending unless the order
    /// names it).
    pub(crate) fn rendered(&self, meta: &EntityMeta) -> Resolved {
        render(self.items.iter().copied(), meta)
    }
}

/// An order as a statement renders it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Resolved {
    pub(crate) terms: Vec<Term>,
    /// The type of each term's values; one short when the key was added rather than named (the
    /// key's type is known where it matters: [`with_key_kind`](Resolved::with_key_kind)).
    pub(crate) kinds: Vec<ValueKind>,
}

impl Resolved {
    /// The order by key alone, for queries that name none.
    pub(crate) fn by_key(meta: &EntityMeta) -> Resolved {
        render(std::iter::empty(), meta)
    }

    /// Completes [`kinds`](Resolved::kinds) with the key's type if the key was added.
    pub(crate) fn with_key_kind(mut self, key_kind: ValueKind) -> Resolved {
        if self.kinds.len() < self.terms.len() {
            self.kinds.push(key_kind);
        }
        self
    }
}

fn render(items: impl Iterator<Item = (Term, ValueKind)>, meta: &EntityMeta) -> Resolved {
    let mut resolved = Resolved {
        terms: Vec::with_capacity(4),
        kinds: Vec::with_capacity(4),
    };
    for (term, kind) in items {
        if resolved.terms.iter().any(|t| t.column == term.column) {
            continue;
        }
        resolved.terms.push(term);
        resolved.kinds.push(kind);
        if term.column == meta.key {
            return resolved;
        }
    }
    resolved.terms.push(Term {
        column: meta.key,
        dir: Dir::Asc,
    });
    resolved
}

impl<E> Clone for Order<E> {
    fn clone(&self) -> Self {
        Order {
            items: self.items.clone(),
            entity: PhantomData,
        }
    }
}

impl<E> fmt::Debug for Order<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.items.iter().map(|(term, _)| term))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::meta::{ColumnMeta, ColumnRole};

    const META: EntityMeta = EntityMeta {
        table: "t",
        columns: &[
            ColumnMeta::of::<i64>("a", ColumnRole::Data, false, false),
            ColumnMeta::of::<i64>("id", ColumnRole::Key, false, false),
            ColumnMeta::of::<String>("b", ColumnRole::Data, false, false),
        ],
        key: 1,
        tenant: 2,
    };

    fn term(column: usize, dir: Dir) -> Term {
        Term { column, dir }
    }

    #[test]
    fn the_key_ends_every_order_once() {
        let order = Order::<()>::by(0, Dir::Desc, ValueKind::BigInt)
            .then(Order::by(0, Dir::Asc, ValueKind::BigInt))
            .then(Order::by(2, Dir::Asc, ValueKind::String));
        let resolved = order.rendered(&META).with_key_kind(ValueKind::BigInt);
        assert_eq!(
            resolved.terms,
            [term(0, Dir::Desc), term(2, Dir::Asc), term(1, Dir::Asc)]
        );
        assert_eq!(
            resolved.kinds,
            [ValueKind::BigInt, ValueKind::String, ValueKind::BigInt]
        );
        // Named by the order: kept where it is, with its direction, and nothing after it.
        let order = Order::<()>::by(1, Dir::Desc, ValueKind::BigInt).then(Order::by(
            0,
            Dir::Asc,
            ValueKind::BigInt,
        ));
        assert_eq!(order.rendered(&META).terms, [term(1, Dir::Desc)]);
        assert_eq!(Resolved::by_key(&META).terms, [term(1, Dir::Asc)]);
        assert!(Resolved::by_key(&META).kinds.is_empty());
    }
}
