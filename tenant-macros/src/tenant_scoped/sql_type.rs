//! What `#[column(type = "..")]` may say: an SQL type name and nothing else. The text lands in
//! `CREATE TABLE` as written, so a constraint slipped into it (`TEXT UNIQUE`) would be a
//! constraint the tenant does not lead: unique across tenants, a foreign key to any tenant's row.

/// Why a declared type is refused: the message and the `help:` line.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) message: String,
    pub(crate) help: String,
}

/// The words a type name may continue with after its first word: those of PostgreSQL's and
/// SQLite's multi-word type names (`DOUBLE PRECISION`, `CHARACTER VARYING`, `TIMESTAMP WITH TIME
/// ZONE`, `INTERVAL DAY TO SECOND`, `INTEGER ARRAY`). Anything else after the first word is a
/// constraint or a typo, never part of the type.
const CONTINUATIONS: &[&str] = &[
    "precision",
    "varying",
    "character",
    "char",
    "with",
    "without",
    "time",
    "zone",
    "array",
    "year",
    "month",
    "day",
    "hour",
    "minute",
    "second",
    "to",
];

/// Words that start a column constraint or option, each with the attribute that says it.
const CONSTRAINTS: &[(&str, &str)] = &[
    (
        "unique",
        "use #[unique]: it makes the value unique per tenant, (tenant, column)",
    ),
    (
        "primary",
        "the primary key is (tenant, #[key]): mark the field #[key], or use #[unique] for another identifying column",
    ),
    (
        "key",
        "the primary key is (tenant, #[key]): mark the field #[key], or use #[unique] for another identifying column",
    ),
    (
        "references",
        "use #[belongs_to(Parent)]: its foreign key leads with the tenant column, so a row can only point at its own tenant's parent",
    ),
    (
        "foreign",
        "use #[belongs_to(Parent)]: its foreign key leads with the tenant column, so a row can only point at its own tenant's parent",
    ),
    (
        "default",
        "use #[column(default = \"..\")] for the column's default",
    ),
    (
        "not",
        "nullability comes from the Rust type: `Option<T>` is NULL, any other type NOT NULL",
    ),
    (
        "null",
        "nullability comes from the Rust type: `Option<T>` is NULL, any other type NOT NULL",
    ),
    (
        "generated",
        "for a key the database generates, write #[key(generated)]; other generated columns are not supported",
    ),
    (
        "identity",
        "for a key the database generates, write #[key(generated)]",
    ),
    (
        "autoincrement",
        "for a key the database generates, write #[key(generated)]",
    ),
    (
        "check",
        "a CHECK constraint is not supported in the type: validate the value in Rust (a newtype)",
    ),
    (
        "constraint",
        "a named constraint is not supported in the type: write the type name alone",
    ),
    (
        "collate",
        "a collation is not supported in the type: write the type name alone",
    ),
];

const TYPE_HELP: &str = "write a type name alone, e.g. \"TEXT\", \"NUMERIC(12, 2)\", \"VARCHAR(20)\", \"DOUBLE PRECISION\", \"TIMESTAMP WITH TIME ZONE\" or \"INTEGER[]\"";

/// `Ok` when `text` is a type name: words, at most one list of integer modifiers after a word
/// (`NUMERIC(10, 2)`), then array brackets (`[]`, `[3]`). Every word after the first is one of
/// [`CONTINUATIONS`].
pub(crate) fn check(text: &str) -> Result<(), Refusal> {
    let refuse = |message: String, help: &str| {
        Err(Refusal {
            message,
            help: help.to_owned(),
        })
    };
    if text.trim().is_empty() {
        return refuse("`type` is empty".into(), TYPE_HELP);
    }
    // A constraint keyword anywhere is named first, with the attribute that says it, even when
    // other text around it (a quoted default, a CHECK's operators) is refused as well.
    let constraint = text
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .find_map(|word| {
            let lower = word.to_ascii_lowercase();
            CONSTRAINTS
                .iter()
                .find(|(w, _)| *w == lower)
                .map(|(_, help)| (word, *help))
        });
    if let Some((word, help)) = constraint {
        return refuse(
            format!(
                "{text:?} is more than a type name: `{word}` starts a constraint or column option, which `type` does not take"
            ),
            help,
        );
    }
    // Quotes, `;`, comments and the like never appear in a type name.
    if let Some(bad) = text.chars().find(|c| {
        !(c.is_ascii_alphanumeric() || matches!(c, '_' | ' ' | '(' | ')' | ',' | '[' | ']'))
    }) {
        return refuse(
            format!("{text:?} is not a plain SQL type name: {bad:?} cannot appear in one"),
            TYPE_HELP,
        );
    }
    let mut rest = text.trim();
    let mut words = 0;
    let mut arrays = false;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('[') {
            let Some(end) = after.find(']') else {
                return refuse(format!("{text:?}: `[` is not closed"), TYPE_HELP);
            };
            if words == 0 || !after[..end].trim().chars().all(|c| c.is_ascii_digit()) {
                return refuse(
                    format!(
                        "{text:?} is not a plain SQL type name: an array suffix is `[]` or `[n]` after the type"
                    ),
                    TYPE_HELP,
                );
            }
            arrays = true;
            rest = after[end + 1..].trim_start();
            continue;
        }
        if arrays {
            return refuse(
                format!(
                    "{text:?} is not a plain SQL type name: nothing may follow the array brackets"
                ),
                TYPE_HELP,
            );
        }
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        let word = &rest[..end];
        if word.is_empty() || word.starts_with(|c: char| c.is_ascii_digit()) {
            return refuse(
                format!(
                    "{text:?} is not a plain SQL type name: modifiers go in parentheses right after a word, e.g. NUMERIC(10, 2)"
                ),
                TYPE_HELP,
            );
        }
        let lower = word.to_ascii_lowercase();
        if words > 0 && !CONTINUATIONS.contains(&lower.as_str()) {
            return refuse(
                format!(
                    "{text:?} is not a plain SQL type name: `{word}` is not part of a type name"
                ),
                TYPE_HELP,
            );
        }
        words += 1;
        rest = rest[end..].trim_start();
        if let Some(after) = rest.strip_prefix('(') {
            let Some(close) = after.find(')') else {
                return refuse(format!("{text:?}: `(` is not closed"), TYPE_HELP);
            };
            let modifiers = &after[..close];
            let numbers = modifiers.split(',').map(str::trim);
            if modifiers.trim().is_empty()
                || !numbers
                    .clone()
                    .all(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
            {
                return refuse(
                    format!(
                        "{text:?} is not a plain SQL type name: a type's modifiers are integers, e.g. NUMERIC(10, 2)"
                    ),
                    TYPE_HELP,
                );
            }
            rest = after[close + 1..].trim_start();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn type_names_are_accepted() {
        for ok in [
            "TEXT",
            "bigint",
            "NUMERIC(10,2)",
            "NUMERIC(12, 2)",
            "VARCHAR(20)",
            "CHARACTER VARYING(20)",
            "DOUBLE PRECISION",
            "TIMESTAMP WITH TIME ZONE",
            "timestamp(3) without time zone",
            "TIME(6) WITH TIME ZONE",
            "INTERVAL DAY TO SECOND(3)",
            "INTEGER[]",
            "TEXT[][]",
            "INT[3]",
            "INTEGER ARRAY",
            "DOUBLE PRECISION[]",
            "my_enum",
            "citext",
        ] {
            assert_eq!(check(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn constraints_and_other_text_are_refused() {
        for (bad, help) in [
            ("TEXT UNIQUE", "#[unique]"),
            ("text unique", "#[unique]"),
            ("BIGINT PRIMARY KEY", "#[key]"),
            ("BIGINT REFERENCES customers (id)", "#[belongs_to"),
            ("TEXT NOT NULL", "Option<T>"),
            ("TEXT NULL", "Option<T>"),
            ("BIGINT GENERATED ALWAYS AS IDENTITY", "#[key(generated)]"),
            ("INTEGER CHECK (x > 0)", "CHECK"),
            ("TEXT COLLATE C", "collation"),
            ("TEXT CONSTRAINT x UNIQUE", "named constraint"),
            ("UNIQUE", "#[unique]"),
            ("TEXT DEFAULT 'x'", "#[column(default"),
            ("TEXT); DROP TABLE tenants; --", "type name alone"),
            ("TEXT -- x", "type name alone"),
            ("TEXT /* x */", "type name alone"),
            ("\"TEXT\"", "type name alone"),
            ("TEXT\nUNIQUE", "#[unique]"),
            ("TEXT\tPRIMARY", "#[key]"),
            ("TEXT\n", "type name alone"),
            ("TEXT FOO", "type name alone"),
            ("NUMERIC(a)", "type name alone"),
            ("NUMERIC()", "type name alone"),
            ("NUMERIC(10", "type name alone"),
            ("TEXT[] UNIQUE", "#[unique]"),
            ("TEXT[] ZONE", "type name alone"),
            ("TEXT[x]", "type name alone"),
            ("[]", "type name alone"),
            ("10", "type name alone"),
            ("", "type name alone"),
            ("public.citext", "type name alone"),
        ] {
            let refusal = check(bad).expect_err(bad);
            assert!(
                refusal.help.contains(help),
                "{bad:?}: {} / {}",
                refusal.message,
                refusal.help
            );
        }
    }
}
