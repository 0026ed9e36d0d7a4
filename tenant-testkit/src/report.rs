//! [`Counts`]: what a search did, by kind and by expected outcome, for a CI log.

use std::collections::BTreeMap;
use std::fmt;

/// What a run did: ops by kind, expected outcomes by class, cross-tenant attempts and leaks.
/// Shows the search reaches errors and non-empty results, not only empty reads.
///
/// ```
/// let mut counts = tenant_testkit::Counts::default();
/// counts.op("insert", "non_empty", true);
/// counts.op("get", "empty", false);
/// assert_eq!(counts.ops, 2);
/// assert_eq!(counts.cross, 1);
/// assert_eq!(counts.to_string(), "by kind: get=1 insert=1\n  expected outcomes: empty=1 non_empty=1");
/// ```
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Counts {
    /// Ops run, by kind.
    pub by_kind: BTreeMap<&'static str, u64>,
    /// Ops run, by the class of their expected outcome.
    pub outcomes: BTreeMap<&'static str, u64>,
    /// Ops run.
    pub ops: u64,
    /// Ops that named something of another tenant (a key, a parent, a cursor).
    pub cross: u64,
    /// Rows or values of another tenant that reached a caller.
    pub leaks: u64,
}

impl Counts {
    /// Counts one op.
    pub fn op(&mut self, kind: &'static str, outcome: &'static str, cross: bool) {
        *self.by_kind.entry(kind).or_default() += 1;
        *self.outcomes.entry(outcome).or_default() += 1;
        self.ops += 1;
        self.cross += u64::from(cross);
    }

    /// Adds another task's counts.
    pub fn merge(&mut self, other: &Counts) {
        for (kind, n) in &other.by_kind {
            *self.by_kind.entry(kind).or_default() += n;
        }
        for (class, n) in &other.outcomes {
            *self.outcomes.entry(class).or_default() += n;
        }
        self.ops += other.ops;
        self.cross += other.cross;
        self.leaks += other.leaks;
    }
}

impl fmt::Display for Counts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |counts: &BTreeMap<&str, u64>| {
            counts
                .iter()
                .map(|(name, n)| format!("{name}={n}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        write!(
            f,
            "by kind: {}\n  expected outcomes: {}",
            list(&self.by_kind),
            list(&self.outcomes)
        )
    }
}
