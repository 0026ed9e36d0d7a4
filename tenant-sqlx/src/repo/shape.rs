//! The shapes statements are rendered and cached for: a filter's nodes and an order's terms,
//! without their values. Below SQL building, the statement cache and the cursor MAC, which all
//! key on them, and below the typed [`Filter`](super::filter::Filter) and
//! [`Order`](super::order::Order) that build them.

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// `LIKE ? ESCAPE '\'`.
    Like,
}

/// One node of a filter in postfix order: leaves take their values in order, and `And`, `Or`
/// and `Not` combine the nodes before them. The sequence is the statement cache's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Node {
    /// `column <op> ?`: one value.
    Cmp(usize, Op),
    /// `column IN (?, ..)` with this many values (none: matches nothing).
    In(usize, usize),
    /// `column IS NULL`: no value.
    IsNull(usize),
    And,
    Or,
    Not,
}

/// A sort direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Dir {
    Asc,
    Desc,
}

/// One `ORDER BY` item: a column index of the entity's table and its direction. A sequence of
/// them is part of the statement cache's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Term {
    pub(crate) column: usize,
    pub(crate) dir: Dir,
}
