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
    // own class so that a new raw query is seen in review like a new `trusted`.
    Pattern {
        kind: Kind::Sql,
        shape: Shape::Path {
            segments: &["sqlx", "query"],
            reason: false,
        },
    },
    Pattern {
        kind: Kind::Sql,
        shape: Shape::Path {
            segments: &["sqlx", "query_as"],
            reason: false,
        },
    },
    Pattern {
        kind: Kind::Sql,
        shape: Shape::Path {
            segments: &["sqlx", "query_scalar"],
            reason: false,
        },
    },
    Pattern {
        kind: Kind::Sql,
        shape: Shape::Path {
            segments: &["sqlx", "query_with"],
            reason: false,
        },
    },
    Pattern {
        kind: Kind::Sql,
        shape: Shape::Path {
            segments: &["sqlx", "query_as_with"],
            reason: false,
        },
    },
    Pattern {
        kind: Kind::Sql,
        shape: Shape::Path {
            segments: &["sqlx", "query_scalar_with"],
            reason: false,
        },
    },
    Pattern {
        kind: Kind::Sql,
        shape: Shape::Path {
            segments: &["sqlx", "raw_sql"],
            reason: false,
        },
    },
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
