//! [`compare`]: the inventory against a checked-in copy, for a CI step that fails on new sites.

use std::collections::BTreeMap;

use crate::Finding;

/// The inventory compared with a checked-in copy of it, line numbers left out: code that moves
/// is not a new site, a second `TenantCtx::trusted(..)` in a file that had one is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Comparison {
    /// Sites in the code that the checked-in copy does not have: what a reviewer must see.
    pub new: Vec<Finding>,
    /// Lines of the checked-in copy the code no longer has (`path: kind: detail`).
    pub gone: Vec<String>,
}

impl Comparison {
    /// Whether the code has a site the checked-in copy lacks.
    pub fn has_new(&self) -> bool {
        !self.new.is_empty()
    }
}

/// `path: kind: detail`: a site without its line.
fn key(path: &str, kind: &str, detail: &str) -> String {
    format!("{path}: {kind}: {detail}")
}

/// A checked-in inventory line (`path:line: kind: detail`) without its line number; `None` for
/// a blank line or one of another shape (a comment a user added).
fn parse_line(line: &str) -> Option<String> {
    let (location, rest) = line.split_once(": ")?;
    let (path, number) = location.rsplit_once(':')?;
    number.parse::<usize>().ok()?;
    let (kind, detail) = rest.split_once(": ")?;
    Some(key(path, kind, detail))
}

/// Compares `findings` (the code now) with `checked_in` (the text of an inventory written by
/// the same command), as multisets of sites without line numbers.
///
/// ```
/// use tenant_audit::{compare, scan_source, Finding};
///
/// let checked_in = "src/lib.rs:3: trusted: TenantCtx::trusted(id, schema, plan)\n";
/// let now = |line, detail: &str| Finding {
///     path: "src/lib.rs".into(), line, column: 5,
///     kind: tenant_audit::Kind::Trusted, detail: detail.into(),
/// };
/// // Moved down two lines: nothing new.
/// assert!(!compare(&[now(5, "TenantCtx::trusted(id, schema, plan)")], checked_in).has_new());
/// // A second one: new.
/// let two = [now(5, "TenantCtx::trusted(id, schema, plan)"), now(9, "TenantCtx::trusted(a, b, c)")];
/// assert_eq!(compare(&two, checked_in).new.len(), 1);
/// ```
pub fn compare(findings: &[Finding], checked_in: &str) -> Comparison {
    let mut known: BTreeMap<String, usize> = BTreeMap::new();
    for line in checked_in.lines() {
        if let Some(key) = parse_line(line) {
            *known.entry(key).or_default() += 1;
        }
    }
    let mut new = Vec::new();
    for finding in findings {
        let key = key(&finding.path, finding.kind.name(), &finding.detail);
        match known.get_mut(&key) {
            Some(n) if *n > 0 => *n -= 1,
            _ => new.push(finding.clone()),
        }
    }
    let gone = known
        .into_iter()
        .flat_map(|(key, n)| std::iter::repeat_n(key, n))
        .collect();
    Comparison { new, gone }
}

#[cfg(test)]
mod tests {
    use super::parse_line;

    #[test]
    fn a_line_loses_its_number_and_keeps_colons_in_the_detail() {
        assert_eq!(
            parse_line("src/a.rs:12: sql: sqlx::query(\"SELECT 1::int\")").as_deref(),
            Some("src/a.rs: sql: sqlx::query(\"SELECT 1::int\")")
        );
        assert_eq!(parse_line(""), None);
        assert_eq!(parse_line("# reviewed 2026-12-01"), None);
        assert_eq!(parse_line("src/a.rs:x: sql: q"), None);
    }
}
