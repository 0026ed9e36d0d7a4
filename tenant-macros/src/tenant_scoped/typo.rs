//! Typos of our attribute and argument names, reported as the name meant (`#[tenent]`: did you
//! mean `#[tenant]`?) rather than as a missing tenant field or the compiler's unknown attribute.

/// Attributes the compiler owns on fields; never mistaken for a typo of ours.
const BUILTIN_ATTRIBUTES: &[&str] = &[
    "allow",
    "cfg",
    "cfg_attr",
    "deny",
    "deprecated",
    "doc",
    "expect",
    "forbid",
    "warn",
];

/// `"did you mean `x`? "` when `name` is close to one of `candidates`.
pub(super) fn suggestion(name: &str, candidates: &[&str]) -> String {
    closest(name, candidates)
        .map(|c| format!("did you mean `{c}`? "))
        .unwrap_or_default()
}

/// The candidate within typo distance of `name`, ignoring case: one edit for names of up to
/// four letters (so `deny`, `get` or `new` are not taken for `key`), two for longer ones.
fn closest<'c>(name: &str, candidates: &[&'c str]) -> Option<&'c str> {
    let lower = name.to_ascii_lowercase();
    candidates
        .iter()
        .map(|&c| (c, edit_distance(&lower, c)))
        .filter(|&(c, d)| d <= if c.len() <= 4 { 1 } else { 2 })
        .min_by_key(|&(_, d)| d)
        .map(|(c, _)| c)
}

/// An attribute that looks like one of `ours` but is not: a typo, other case, or a longer name.
pub(super) fn near_miss(name: &str, ours: &[&'static str]) -> Option<&'static str> {
    if BUILTIN_ATTRIBUTES.contains(&name) {
        return None;
    }
    let lower = name.to_ascii_lowercase();
    closest(name, ours).or_else(|| ours.iter().copied().find(|ours| lower.starts_with(ours)))
}

/// Edit distance where swapping two adjacent letters (`kye`) is one edit.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::super::attr::FIELD_ATTRIBUTES;

    fn near_miss(name: &str) -> Option<&'static str> {
        super::near_miss(name, FIELD_ATTRIBUTES)
    }

    #[test]
    fn typos_of_ours_are_caught_and_other_attributes_are_not() {
        for (typo, ours) in [
            ("tenent", "tenant"),
            ("Tenant", "tenant"),
            ("tenants", "tenant"),
            ("tenant_id", "tenant"),
            ("kye", "key"),
            ("Key", "key"),
            ("keys", "key"),
            ("uniqe", "unique"),
            ("indx", "index"),
            ("colum", "column"),
            ("Column", "column"),
            ("columns", "column"),
            ("belongs_too", "belongs_to"),
            ("belong_to", "belongs_to"),
            ("belongsto", "belongs_to"),
            ("pach", "patch"),
        ] {
            assert_eq!(near_miss(typo), Some(ours), "{typo}");
        }
        for other in [
            "deny", "allow", "doc", "get", "set", "new", "serde", "sqlx", "builder", "id",
        ] {
            assert_eq!(near_miss(other), None, "{other}");
        }
    }
}
