//! The table of what mints authority: [`PATTERNS`].

use crate::Kind;

/// One thing the scanner looks for: a token [`Shape`] and the [`Kind`] a match is reported as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pattern {
    /// What a match is reported as.
    pub kind: Kind,
    /// The tokens that match.
    pub shape: Shape,
}

/// The token shapes the scanner knows. They match token trees, never text: a comment, a string
/// literal or a doc comment (a `#[doc = ".."]` attribute once lexed) never matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// A path whose last segments are `segments`: `["TenantCtx", "trusted"]` matches
    /// `TenantCtx::trusted(..)`, `tenant::TenantCtx::trusted(..)`,
    /// `::tenant::TenantCtx::trusted::<..>(..)`, `<tenant::TenantCtx>::trusted(..)`, and the
    /// function passed as a value (`.map(TenantCtx::trusted)`), which mints as surely as a call.
    ///
    /// The type (the first of two or more segments) may also be written as any alias of it the
    /// scanned sources make: `use tenant::TenantCtx as C;` or `type C = tenant::TenantCtx;`
    /// (and aliases of those), then `C::trusted(..)` matches.
    ///
    /// The last segment may also be reached without the others, through what the `use` items
    /// bring in: `use sqlx::query;` (or `use sqlx::query as q;`, `use sqlx::{query, ..};`, a
    /// glob `use sqlx::*;`) makes a call `query(..)` (`q(..)`, `query!(..)`) of the file a match;
    /// a re-export `pub use sqlx::query;` in module `db` (the file `db.rs` or `db/mod.rs`, or
    /// `mod db { .. }`) makes `db::query(..)` one in every file. A name brought in that way
    /// matches only where it is called, so a `let query = ..` of the same name does not.
    ///
    /// A path through [`CHECKED_NAMESPACE`] (`tenant::sqlx::query!`) never matches `sqlx`.
    ///
    /// With `reason`, a call whose one argument is a string literal is reported with that
    /// string; any other match with its source.
    Path {
        /// The path's last segments, in order.
        segments: &'static [&'static str],
        /// Report a call's string-literal argument instead of its source.
        reason: bool,
    },
    /// A call of a function or method named `name`, however it is reached: `name(..)`,
    /// `x.name(..)`, `Type::name(..)`, with or without a turbofish. Its definition (`fn name`)
    /// is not a call, and neither is a macro `name!(..)`.
    Call {
        /// The function's or method's name.
        name: &'static str,
    },
    /// A method call `receiver.name(..)` whose receiver is named (case-insensitively) with one
    /// of `receiver_contains`: `claim.verify(..)`, `input.tenant_claim.verify(..)`,
    /// `self.claim()?.verify(..)`. The receiver's name is the identifier before the dot, or
    /// before the `()` or `()?` of a call there.
    Method {
        /// The method's name.
        name: &'static str,
        /// Lower-case fragments, one of which the receiver's name must contain.
        receiver_contains: &'static [&'static str],
    },
    /// A method call `receiver.name(sql, ..)` whose first argument is SQL text: a string
    /// literal, `AssertSqlSafe(..)` by any path, `format!(..)`, `concat!(..)`, a tuple
    /// `(sql, arguments)` of those, or a name that says it holds SQL (a word `sql`, `stmt`,
    /// `statement`, `ddl` or `query` between underscores, or an upper-case constant that is not
    /// named like a pool or a connection), behind any `&`, `*` or `.as_str()`.
    ///
    /// Without types the scanner cannot tell sqlx's `Executor::execute(&pool, "..")` from
    /// another crate's method of the same name, so it asks what the argument looks like: a
    /// query builder runs as `query.execute(&pool)`, whose argument is an executor, not SQL.
    /// A statement in a variable named otherwise (`pool.execute(text)`) is missed.
    Statement {
        /// The method's name.
        name: &'static str,
    },
    /// An implementation of the trait `name` (or of an alias of it): `impl TenantRegistry for
    /// X`, `impl<R: ..> tenant::TenantRegistry for Wrapper<R>`, reported with its header up to
    /// the type (without a `where` clause). `impl X` and `impl Trait` in a type are no match.
    Impl {
        /// The trait's last path segment.
        name: &'static str,
    },
    /// An attribute `#[path(.., key = value, ..)]` (or `#![..]`) whose path ends in `name`,
    /// reported with `value` when it is a string literal and with the attribute's source
    /// otherwise. An attribute without `key = ..` does not match.
    AttributeKey {
        /// The attribute path's last segment.
        name: &'static str,
        /// The key whose presence makes the match.
        key: &'static str,
    },
}

/// The checked queries' namespace, `tenant::sqlx` (the facade's name for `tenant-sqlx`): a path
/// through it (`tenant::sqlx::query!(..)`, `use tenant::sqlx::query;` then `query!(..)`,
/// `use tenant::sqlx;` then `sqlx::query!(..)`, `use tenant::sqlx as ts;`) is not `sqlx`, so
/// its queries, whose tenant the macro injects, are no `sql` site.
pub const CHECKED_NAMESPACE: (&str, &str) = ("tenant", "sqlx");

/// A row of kind `sql` for `sqlx::$name`, whatever path reaches it.
macro_rules! sqlx_path {
    ($name:literal) => {
        Pattern {
            kind: Kind::Sql,
            shape: Shape::Path {
                segments: &["sqlx", $name],
                reason: false,
            },
        }
    };
}

/// A row of kind `sql` for the `Executor` method `$name` called on a receiver with SQL text
/// ([`Shape::Statement`]).
macro_rules! statement {
    ($name:literal) => {
        Pattern {
            kind: Kind::Sql,
            shape: Shape::Statement { name: $name },
        }
    };
}

/// A row of kind `sql` for the `Executor` method `$name` called by path:
/// `sqlx::Executor::$name(&pool, ..)`.
macro_rules! executor_path {
    ($name:literal) => {
        Pattern {
            kind: Kind::Sql,
            shape: Shape::Path {
                segments: &["Executor", $name],
                reason: false,
            },
        }
    };
}

/// Every place that mints authority, as the scanner knows it (DESIGN.md, rule 2: only a verifier
/// mints a `TenantCtx`; `TenantCtx::trusted` is the loud exception; cross-tenant work is a
/// `SystemCtx` with a reason).
///
/// Extend it here: a new way to mint is one more row, and its unit test.
pub const PATTERNS: &[Pattern] = &[
    // A context from code that says it has checked everything itself.
    Pattern {
        kind: Kind::Trusted,
        shape: Shape::Path {
            segments: &["TenantCtx", "trusted"],
            reason: false,
        },
    },
    // Cross-tenant authority, with its `&'static str` reason.
    Pattern {
        kind: Kind::System,
        shape: Shape::Path {
            segments: &["SystemCtx", "new"],
            reason: true,
        },
    },
    // Schema DDL and migrations, with its `&'static str` reason.
    Pattern {
        kind: Kind::Provision,
        shape: Shape::Path {
            segments: &["ProvisionCtx", "new"],
            reason: true,
        },
    },
    // A signed claim or system token: what a Temporal worker acts on once its signature
    // verifies, so minting one is authority as surely as `trusted` (the key is the proof).
    Pattern {
        kind: Kind::Sign,
        shape: Shape::Path {
            segments: &["SignedClaim", "sign"],
            reason: false,
        },
    },
    Pattern {
        kind: Kind::Sign,
        shape: Shape::Path {
            segments: &["SignedClaim", "sign_at"],
            reason: false,
        },
    },
    Pattern {
        kind: Kind::Sign,
        shape: Shape::Path {
            segments: &["SystemToken", "sign"],
            reason: false,
        },
    },
    Pattern {
        kind: Kind::Sign,
        shape: Shape::Path {
            segments: &["SystemToken", "sign_at"],
            reason: false,
        },
    },
    // SQL the types do not check: its tenant predicate is its author's to write. Listed as its
    // own class so that a new raw query is seen in review like a new `trusted`. sqlx's
    // functions and macros by any path through `sqlx` (an alias of it, `use sqlx::query;` then
    // `query(..)`, a glob, a re-export `db::query`), but not `tenant::sqlx::query!`, the checked
    // queries ([`CHECKED_NAMESPACE`]).
    sqlx_path!("query"),
    sqlx_path!("query_as"),
    sqlx_path!("query_scalar"),
    sqlx_path!("query_with"),
    sqlx_path!("query_as_with"),
    sqlx_path!("query_scalar_with"),
    sqlx_path!("raw_sql"),
    sqlx_path!("query_unchecked"),
    sqlx_path!("query_as_unchecked"),
    sqlx_path!("query_scalar_unchecked"),
    sqlx_path!("query_file"),
    sqlx_path!("query_file_as"),
    sqlx_path!("query_file_scalar"),
    sqlx_path!("query_file_unchecked"),
    sqlx_path!("query_file_as_unchecked"),
    sqlx_path!("query_file_scalar_unchecked"),
    // SQL assembled at run time by sqlx's builder.
    Pattern {
        kind: Kind::Sql,
        shape: Shape::Path {
            segments: &["QueryBuilder", "new"],
            reason: false,
        },
    },
    // A plain string run by sqlx's `Executor` (`&str` and `AssertSqlSafe(..)` are statements
    // in sqlx 0.9): `pool.execute("DELETE ..")`, and the trait's functions by path.
    statement!("execute"),
    statement!("execute_many"),
    statement!("fetch"),
    statement!("fetch_many"),
    statement!("fetch_all"),
    statement!("fetch_one"),
    statement!("fetch_optional"),
    statement!("prepare"),
    statement!("prepare_with"),
    statement!("describe"),
    executor_path!("execute"),
    executor_path!("execute_many"),
    executor_path!("fetch"),
    executor_path!("fetch_many"),
    executor_path!("fetch_all"),
    executor_path!("fetch_one"),
    executor_path!("fetch_optional"),
    executor_path!("prepare"),
    executor_path!("prepare_with"),
    executor_path!("describe"),
    // A system activity: the worker makes its `SystemCtx` from this reason.
    Pattern {
        kind: Kind::Activity,
        shape: Shape::AttributeKey {
            name: "activity",
            key: "system",
        },
    },
    // A claim or a request becoming a context. Every `verify` and `resolve` call is listed,
    // whatever its receiver is called: a scanner without types cannot tell a claim's `verify`
    // from another's, and a name-based guess (`claim.verify`) missed `token.verify(..)`.
    // `TenantClaim::verify` is also a row of its own for the function passed as a value.
    Pattern {
        kind: Kind::Verify,
        shape: Shape::Path {
            segments: &["TenantClaim", "verify"],
            reason: false,
        },
    },
    Pattern {
        kind: Kind::Verify,
        shape: Shape::Call { name: "verify" },
    },
    Pattern {
        kind: Kind::Verify,
        shape: Shape::Call { name: "resolve" },
    },
    Pattern {
        kind: Kind::Verify,
        shape: Shape::Call {
            name: "verify_claim",
        },
    },
    // The request boundary's verification, which also attaches the user hook's user:
    // `claim.verify_request(..)` however it is reached.
    Pattern {
        kind: Kind::Verify,
        shape: Shape::Call {
            name: "verify_request",
        },
    },
    // A tenant's raw pool: no placement fence, so a process whose registry cache is stale
    // writes through it in the database the tenant was moved from. For administration only.
    Pattern {
        kind: Kind::Unfenced,
        shape: Shape::Call {
            name: "unfenced_pool",
        },
    },
    Pattern {
        kind: Kind::Unfenced,
        shape: Shape::Call {
            name: "unfenced_pool_at",
        },
    },
    // A registry is what `verify` trusts: a hand-written one vouches for any tenant it likes.
    Pattern {
        kind: Kind::Registry,
        shape: Shape::Impl {
            name: "TenantRegistry",
        },
    },
];

/// The type names whose aliases the scanner follows: the first segment of every
/// [`Shape::Path`] of two segments or more, and every [`Shape::Impl`]'s trait.
pub(crate) fn aliased_names(patterns: &[Pattern]) -> Vec<&'static str> {
    let mut names: Vec<&'static str> = patterns
        .iter()
        .filter_map(|pattern| match pattern.shape {
            Shape::Path { segments, .. } if segments.len() >= 2 => Some(segments[0]),
            Shape::Impl { name } => Some(name),
            _ => None,
        })
        .collect();
    names.sort_unstable();
    names.dedup();
    names
}
