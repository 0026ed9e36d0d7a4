//! The scanner: one source text in, the [`Site`]s where it mints authority out.

use std::fmt;
use std::ops::Range;
use std::str::FromStr;

use proc_macro2::{Delimiter, Spacing, TokenStream, TokenTree};

use crate::Site;
use crate::patterns::{CHECKED_NAMESPACE, PATTERNS, Pattern, Shape, aliased_names};
use aliases::{Import, Names, alias_edges, is_checked_namespace, use_items};
pub(crate) use aliases::{Shared, module_of_file};
use sql_text::is_sql_text;
use tokens::{
    ident_is, is_method_dot, is_path_sep, paren_group, path_start, punct_is, receiver,
    skip_angle_brackets, skip_turbofish, span_of, string_value,
};

mod aliases;
mod sql_text;
mod tokens;

/// Longest snippet printed, in characters; a longer one is cut and ends in `...`.
const SNIPPET_MAX_CHARS: usize = 120;

/// Source text that does not lex as Rust tokens (an unterminated string or block comment, an
/// unbalanced delimiter, a stray character).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexFailure {
    /// Line of the failure, from 1.
    pub line: usize,
    /// Column of the failure in characters, from 1.
    pub column: usize,
    /// What the lexer said.
    pub message: String,
}

impl fmt::Display for LexFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.message)
    }
}

impl std::error::Error for LexFailure {}

/// Every place in `source` that mints authority according to [`PATTERNS`], in source order.
///
/// The text is lexed into token trees, so comments, string literals and doc comments never
/// match, while calls inside macro bodies (`macro_rules!`, `vec![..]`, `format!(..)`
/// arguments) do: they are tokens.
///
/// ```
/// use tenant_audit::{Kind, scan_source};
///
/// let source = r#"
///     /// Docs may say `TenantCtx::trusted(..)`; only code counts.
///     fn job() -> Result<(), tenant::Error> {
///         let log = "TenantCtx::trusted(..) in a string is no mint"; // nor in TenantCtx::trusted(a comment)
///         let ctx = tenant::TenantCtx::trusted(id, schema, Plan::Free);
///         let sys = SystemCtx::new("nightly purge")?;
///         Ok(())
///     }
/// "#;
/// let sites = scan_source(source)?;
/// let lines: Vec<String> = sites.iter().map(|s| format!("{}: {}: {}", s.line, s.kind, s.detail)).collect();
/// assert_eq!(lines, [
///     r#"5: trusted: tenant::TenantCtx::trusted(id, schema, Plan::Free)"#,
///     r#"6: system: "nightly purge""#,
/// ]);
/// assert_eq!(sites[0].kind, Kind::Trusted);
/// # Ok::<(), tenant_audit::LexFailure>(())
/// ```
///
/// A text that does not lex is an error, with its place:
///
/// ```
/// let err = tenant_audit::scan_source("fn f() { let s = \"unterminated; }").unwrap_err();
/// assert_eq!(err.line, 1);
/// ```
pub fn scan_source(source: &str) -> Result<Vec<Site>, LexFailure> {
    scan_source_with(source, PATTERNS)
}

/// [`scan_source`] with another table than [`PATTERNS`] (a subset, or rows of your own).
/// Aliases (`use .. as`, `type .. =`) made in `source` are followed.
///
/// ```
/// use tenant_audit::{Kind, Pattern, Shape, scan_source_with};
///
/// let mine = [Pattern { kind: Kind::Trusted, shape: Shape::Call { name: "impersonate" } }];
/// let sites = scan_source_with("fn f() { admin.impersonate(tenant) }", &mine)?;
/// assert_eq!(sites[0].detail, "admin.impersonate(tenant)");
/// # Ok::<(), tenant_audit::LexFailure>(())
/// ```
pub fn scan_source_with(source: &str, patterns: &[Pattern]) -> Result<Vec<Site>, LexFailure> {
    scan(source, patterns, "crate", &Shared::default()).map(|scanned| scanned.sites)
}

/// What one file holds: its sites, and the test modules it declares in files of their own.
pub(crate) struct Scanned {
    pub(crate) sites: Vec<Site>,
    /// The names of `#[cfg(test)] mod NAME;`: their files are test code, not the program.
    pub(crate) test_modules: Vec<String>,
}

/// Scans `source`, the module `module` ([`module_of_file`]), following the aliases and
/// imports it makes and what `other` files share (their aliases and re-exports).
pub(crate) fn scan(
    source: &str,
    patterns: &[Pattern],
    module: &str,
    other: &Shared,
) -> Result<Scanned, LexFailure> {
    let (text, stream) = lex(source)?;
    let mut aliases = Vec::new();
    alias_edges(stream.clone(), &mut aliases);
    aliases.extend_from_slice(&other.aliases);
    let names = Names::new(&aliased_names(patterns), &aliases);
    let mut imports = Vec::new();
    use_items(stream.clone(), module, &mut imports);
    let mut exports: Vec<Import> = imports.iter().filter(|i| i.public).cloned().collect();
    exports.extend_from_slice(&other.exports);
    // `use tenant::sqlx;` (or `as ts`): in this file that name is the checked namespace.
    let checked_locals = imports
        .iter()
        .filter(|import| is_checked_namespace(&import.from, &import.leaf))
        .map(|import| import.local.clone())
        .collect();
    let scope = Scope {
        names,
        imports,
        exports,
        checked_locals,
    };
    let mut scanner = Scanner {
        text: &text,
        patterns,
        scope: &scope,
        sites: Vec::new(),
        test_modules: Vec::new(),
    };
    scanner.stream(stream);
    let mut sites = scanner.sites;
    sites.sort_by_key(|site| (site.line, site.column, site.kind));
    sites.dedup();
    Ok(Scanned {
        sites,
        test_modules: scanner.test_modules,
    })
}

/// What `source`, the module `module`, shares with the other files of its tree: its aliases
/// and its re-exports.
pub(crate) fn shared(source: &str, module: &str) -> Result<Shared, LexFailure> {
    let (_, stream) = lex(source)?;
    let mut shared = Shared::default();
    alias_edges(stream.clone(), &mut shared.aliases);
    use_items(stream, module, &mut shared.exports);
    shared.exports.retain(|import| import.public);
    Ok(shared)
}

fn lex(source: &str) -> Result<(std::borrow::Cow<'_, str>, TokenStream), LexFailure> {
    let text = without_shebang(source.strip_prefix('\u{feff}').unwrap_or(source));
    let stream = TokenStream::from_str(&text).map_err(|error| {
        let start = error.span().start();
        LexFailure {
            line: start.line,
            column: start.column + 1,
            message: error.to_string(),
        }
    })?;
    Ok((text, stream))
}

/// Like rustc: a first line `#!..` is a shebang unless it opens an inner attribute (`#![..]`).
/// It is blanked (its newline kept, so lines keep their numbers).
fn without_shebang(source: &str) -> std::borrow::Cow<'_, str> {
    match source.strip_prefix("#!") {
        Some(rest) if !rest.trim_start().starts_with('[') => {
            let end = source.find('\n').unwrap_or(source.len());
            std::borrow::Cow::Owned(source[end..].to_owned())
        }
        _ => std::borrow::Cow::Borrowed(source),
    }
}

/// What names mean in one file.
struct Scope {
    /// The spellings of the patterns' type names.
    names: Names,
    /// What this file's `use` items bring in.
    imports: Vec<Import>,
    /// What this file and the others re-export.
    exports: Vec<Import>,
    /// The names this file gives the checked namespace (`use tenant::sqlx;`).
    checked_locals: Vec<String>,
}

impl Scope {
    /// `local` brings in `from::leaf` here (by name or by a glob), `from` by any alias.
    fn imports(&self, local: &str, from: &str, leaf: &str) -> bool {
        self.imports
            .iter()
            .any(|import| self.brings(import, local, from, leaf))
    }

    /// Module `module` re-exports `from::leaf` as `local`.
    fn exports(&self, module: &str, local: &str, from: &str, leaf: &str) -> bool {
        self.exports
            .iter()
            .any(|import| import.module == module && self.brings(import, local, from, leaf))
    }

    fn brings(&self, import: &Import, local: &str, from: &str, leaf: &str) -> bool {
        let named =
            (import.local == local && import.leaf == leaf) || (import.leaf == "*" && local == leaf);
        named && self.names.is_written(&import.from, from)
    }
}

struct Scanner<'a> {
    /// The text that was lexed: spans' byte ranges index into it.
    text: &'a str,
    patterns: &'a [Pattern],
    scope: &'a Scope,
    sites: Vec<Site>,
    test_modules: Vec<String>,
}

impl Scanner<'_> {
    /// Matches every pattern at every position of one delimiter level, then goes down into
    /// each group (macro bodies included: they are token trees like any other).
    ///
    /// A `#[cfg(test)]` module is skipped whole: what tests mint is not the program's authority,
    /// and listing it made every edit of a test module churn the inventory.
    fn stream(&mut self, stream: TokenStream) {
        let mut tokens: Vec<TokenTree> = stream.into_iter().collect();
        let mut at = 0;
        while at < tokens.len() {
            if let Some((end, file_module)) = test_module(&tokens, at) {
                self.test_modules.extend(file_module);
                tokens.drain(at..end);
            } else {
                at += 1;
            }
        }
        // A `use` item names what it imports without running it: `use sqlx::query;` is no
        // query (its calls are, through the import).
        let mut in_use = vec![false; tokens.len()];
        let mut at = 0;
        while at < tokens.len() {
            if ident_is(&tokens[at], "use") {
                while at < tokens.len() && !punct_is(tokens.get(at), ';') {
                    in_use[at] = true;
                    at += 1;
                }
            }
            at += 1;
        }
        for at in (0..tokens.len()).filter(|&at| !in_use[at]) {
            for pattern in self.patterns {
                if let Some(site) = self.match_at(&tokens, at, pattern) {
                    self.sites.push(site);
                }
            }
        }
        for (at, token) in tokens.iter().enumerate() {
            if let (TokenTree::Group(group), false) = (token, in_use[at]) {
                self.stream(group.stream());
            }
        }
    }

    fn match_at(&self, tokens: &[TokenTree], at: usize, pattern: &Pattern) -> Option<Site> {
        let (start, end, detail) = match pattern.shape {
            Shape::Path { segments, reason } => {
                let start = path_ending_at(tokens, at, segments, self.scope)
                    .or_else(|| imported_at(tokens, at, segments, self.scope))?;
                let after = skip_turbofish(tokens, at + 1);
                let call = tokens.get(after).and_then(paren_group);
                let end = if call.is_some() { after } else { after - 1 };
                let literal = call.filter(|_| reason).and_then(|args| {
                    match args.stream().into_iter().collect::<Vec<_>>().as_slice() {
                        [TokenTree::Literal(lit)] => string_value(lit),
                        _ => None,
                    }
                });
                (start, end, literal.map(|s| format!("{s:?}")))
            }
            Shape::Call { name } => {
                if !ident_is(&tokens[at], name) || (at > 0 && ident_is(&tokens[at - 1], "fn")) {
                    return None;
                }
                let end = skip_turbofish(tokens, at + 1);
                tokens.get(end).and_then(paren_group)?;
                let start = if is_method_dot(tokens, at) {
                    receiver(tokens, at - 1).map_or(at, |(start, _)| start)
                } else {
                    path_start(tokens, at)
                };
                (start, end, None)
            }
            Shape::Method {
                name,
                receiver_contains,
            } => {
                if !ident_is(&tokens[at], name) || !is_method_dot(tokens, at) {
                    return None;
                }
                let (start, receiver) = receiver(tokens, at - 1)?;
                let receiver = receiver.to_lowercase();
                if !receiver_contains.iter().any(|part| receiver.contains(part)) {
                    return None;
                }
                let end = skip_turbofish(tokens, at + 1);
                tokens.get(end).and_then(paren_group)?;
                (start, end, None)
            }
            Shape::Statement { name } => {
                if !ident_is(&tokens[at], name) || !is_method_dot(tokens, at) {
                    return None;
                }
                let end = skip_turbofish(tokens, at + 1);
                let args: Vec<TokenTree> = tokens
                    .get(end)
                    .and_then(paren_group)?
                    .stream()
                    .into_iter()
                    .collect();
                let first = args.split(|token| punct_is(Some(token), ',')).next()?;
                if !is_sql_text(first) {
                    return None;
                }
                let start = match receiver(tokens, at - 1) {
                    Some((start, _)) => start,
                    None if at >= 2 && paren_group(&tokens[at - 2]).is_some() => at - 2,
                    None => at,
                };
                (start, end, None)
            }
            Shape::Impl { name } => {
                let end = impl_of(tokens, at, name, &self.scope.names)?;
                (at, end, None)
            }
            Shape::AttributeKey { name, key } => {
                let (end, value) = attribute_value(tokens, at, name, key)?;
                let literal = match value.as_slice() {
                    [TokenTree::Literal(lit)] => string_value(lit),
                    _ => None,
                };
                (at, end, literal.map(|s| format!("{s:?}")))
            }
        };
        let first = span_of(&tokens[start]);
        Some(Site {
            line: first.start().line,
            column: first.start().column + 1,
            kind: pattern.kind,
            detail: detail.unwrap_or_else(|| self.snippet(&tokens[start..=end])),
        })
    }

    /// The tokens as written, on one line: whitespace and comments between two tokens become one
    /// space (none inside parentheses and brackets, before a comma or around a method's dot), a
    /// trailing comma before a closing delimiter on its own line goes, and a long snippet is cut.
    fn snippet(&self, tokens: &[TokenTree]) -> String {
        let mut out = String::new();
        let mut prev_end = None;
        self.render(tokens, &mut out, &mut prev_end);
        let one_line = out.split_whitespace().collect::<Vec<_>>().join(" ");
        if one_line.chars().count() <= SNIPPET_MAX_CHARS {
            one_line
        } else {
            let cut: String = one_line.chars().take(SNIPPET_MAX_CHARS - 3).collect();
            format!("{}...", cut.trim_end())
        }
    }

    fn render(&self, tokens: &[TokenTree], out: &mut String, prev_end: &mut Option<usize>) {
        for token in tokens {
            match token {
                TokenTree::Group(group) => {
                    let (open, close) = match group.delimiter() {
                        Delimiter::Parenthesis => ("(", ")"),
                        Delimiter::Bracket => ("[", "]"),
                        Delimiter::Brace => ("{", "}"),
                        Delimiter::None => ("", ""),
                    };
                    self.piece(out, prev_end, group.span_open().byte_range(), open);
                    let inner: Vec<TokenTree> = group.stream().into_iter().collect();
                    self.render(&inner, out, prev_end);
                    let close_range = group.span_close().byte_range();
                    if let Some(end) = *prev_end
                        && out.ends_with(',')
                        && self
                            .text
                            .get(end..close_range.start)
                            .is_some_and(|gap| gap.contains('\n'))
                    {
                        out.pop();
                    }
                    self.piece(out, prev_end, close_range, close);
                }
                TokenTree::Ident(ident) => {
                    self.piece(out, prev_end, ident.span().byte_range(), &ident.to_string());
                }
                TokenTree::Punct(punct) => {
                    let text = punct.as_char().to_string();
                    self.piece(out, prev_end, punct.span().byte_range(), &text);
                }
                TokenTree::Literal(lit) => {
                    self.piece(out, prev_end, lit.span().byte_range(), &lit.to_string());
                }
            }
        }
    }

    fn piece(
        &self,
        out: &mut String,
        prev_end: &mut Option<usize>,
        range: Range<usize>,
        text: &str,
    ) {
        if text.is_empty() {
            return;
        }
        let gap = prev_end.is_some_and(|end| end != range.start);
        // A line break or a comment inside `(..)`, before `,` or in a method chain is no space.
        let hugging =
            out.ends_with(['(', '[', '.']) || text.starts_with([')', ']', ',', ';', '.', '?']);
        if gap && !hugging {
            out.push(' ');
        }
        out.push_str(text);
        *prev_end = Some(range.end);
    }
}

/// `#[cfg(test)]`, further attributes, a visibility, `mod NAME` and then `{ .. }` or `;`,
/// starting at `at`: the end of the item, and `NAME` when the module is a file of its own.
fn test_module(tokens: &[TokenTree], at: usize) -> Option<(usize, Option<String>)> {
    let is_cfg_test = |group: &proc_macro2::Group| {
        let inner: Vec<TokenTree> = group.stream().into_iter().collect();
        matches!(inner.as_slice(), [cfg, TokenTree::Group(args)]
            if ident_is(cfg, "cfg") && args.stream().to_string() == "test")
    };
    let attribute = |at: usize| match (tokens.get(at), tokens.get(at + 1)) {
        (Some(hash), Some(TokenTree::Group(group)))
            if punct_is(Some(hash), '#') && group.delimiter() == Delimiter::Bracket =>
        {
            Some(group)
        }
        _ => None,
    };
    if !attribute(at).is_some_and(is_cfg_test) {
        return None;
    }
    let mut next = at + 2;
    while attribute(next).is_some() {
        next += 2;
    }
    if tokens.get(next).is_some_and(|token| ident_is(token, "pub")) {
        next += 1;
        if tokens.get(next).and_then(paren_group).is_some() {
            next += 1;
        }
    }
    if !tokens.get(next).is_some_and(|token| ident_is(token, "mod")) {
        return None;
    }
    let TokenTree::Ident(name) = tokens.get(next + 1)? else {
        return None;
    };
    match tokens.get(next + 2)? {
        TokenTree::Group(body) if body.delimiter() == Delimiter::Brace => Some((next + 3, None)),
        semi if punct_is(Some(semi), ';') => Some((next + 3, Some(name.to_string()))),
        _ => None,
    }
}

/// If the identifier at `at` ends a path whose last segments are `segments` (and the path does
/// not go on: `TenantCtx::trusted::x` is another path), the index where the whole path starts.
/// The type (the first of several segments) may be an alias, or a qualified self type
/// `<path::Type>`.
fn path_ending_at(
    tokens: &[TokenTree],
    at: usize,
    segments: &[&str],
    scope: &Scope,
) -> Option<usize> {
    let names = &scope.names;
    let mut k = at;
    let mut start = None;
    for (n, segment) in segments.iter().rev().enumerate() {
        let is_type = n > 0 && n == segments.len() - 1;
        if n > 0 {
            if k < 3 || !is_path_sep(tokens, k - 2) {
                return None;
            }
            k -= 3;
        }
        if is_type && punct_is(tokens.get(k), '>') {
            start = Some(qualified_self_type(tokens, k, segment, names)?);
        } else if is_type {
            if !names.is(&tokens[k], segment) || checked_namespace_at(tokens, k, segment, scope) {
                return None;
            }
        } else if !ident_is(&tokens[k], segment) {
            return None;
        }
    }
    if is_path_sep(tokens, at + 1) && matches!(tokens.get(at + 3), Some(TokenTree::Ident(_))) {
        return None;
    }
    Some(start.unwrap_or_else(|| path_start(tokens, k)))
}

/// The `sqlx` at `k` is the checked namespace: written `tenant::sqlx`, or a name this file gave
/// `tenant::sqlx` (`use tenant::sqlx;`) not behind a leading `::` (which names the crate).
fn checked_namespace_at(tokens: &[TokenTree], k: usize, segment: &str, scope: &Scope) -> bool {
    let (parent, name) = CHECKED_NAMESPACE;
    if segment != name {
        return false;
    }
    let after_sep = k >= 2 && is_path_sep(tokens, k - 2);
    let through_parent = after_sep && k >= 3 && ident_is(&tokens[k - 3], parent);
    let local = matches!(&tokens[k], TokenTree::Ident(ident)
        if scope.checked_locals.iter().any(|l| ident == l));
    through_parent || (local && !after_sep)
}

/// The identifier at `at` reaches the path `segments` through an import: called by the name a
/// `use` brought in (`query(..)`, `q(..)`, `query!(..)`), or as `module::name(..)` where
/// `module` re-exports it. Returns where the call's path starts.
fn imported_at(tokens: &[TokenTree], at: usize, segments: &[&str], scope: &Scope) -> Option<usize> {
    let [.., from, leaf] = segments else {
        return None;
    };
    let TokenTree::Ident(ident) = &tokens[at] else {
        return None;
    };
    let local = ident.to_string();
    // Called, or a macro: a `let query = ..` of the same name is a variable.
    let after = skip_turbofish(tokens, at + 1);
    let called = tokens.get(after).and_then(paren_group).is_some()
        || (punct_is(tokens.get(at + 1), '!')
            && matches!(tokens.get(at + 2), Some(TokenTree::Group(_))));
    if !called || is_method_dot(tokens, at) || (at > 0 && ident_is(&tokens[at - 1], "fn")) {
        return None;
    }
    if at >= 2 && is_path_sep(tokens, at - 2) {
        let TokenTree::Ident(module) = tokens.get(at.checked_sub(3)?)? else {
            return None;
        };
        let module = module.to_string();
        return scope
            .exports(&module, &local, from, leaf)
            .then(|| path_start(tokens, at));
    }
    scope.imports(&local, from, leaf).then_some(at)
}

/// `<path::Type>` or `<Self as path::Type>` closing at `close`, `Type` being `name` or an
/// alias: the index of its `<`.
/// `Vec::<TenantCtx>` (a turbofish, after `::`) and `Foo<TenantCtx>` (generic arguments, after
/// a name) are not one.
fn qualified_self_type(
    tokens: &[TokenTree],
    close: usize,
    name: &str,
    names: &Names,
) -> Option<usize> {
    let last = close.checked_sub(1)?;
    if !names.is(&tokens[last], name) {
        return None;
    }
    let mut open = path_start(tokens, last).checked_sub(1)?;
    // `<Type as path::Trait>`: the trait is the name, the `<` is before the type.
    if ident_is(&tokens[open], "as") {
        let mut depth = 0usize;
        loop {
            open = open.checked_sub(1)?;
            match &tokens[open] {
                TokenTree::Punct(p)
                    if p.as_char() == '>' && !punct_is(tokens.get(open.checked_sub(1)?), '-') =>
                {
                    depth += 1
                }
                TokenTree::Punct(p) if p.as_char() == '<' && depth == 0 => break,
                TokenTree::Punct(p) if p.as_char() == '<' => depth -= 1,
                _ => {}
            }
        }
    }
    if !punct_is(tokens.get(open), '<') {
        return None;
    }
    let before = open.checked_sub(1).map(|k| &tokens[k]);
    let generic_arguments =
        matches!(before, Some(TokenTree::Ident(_))) || (open >= 2 && is_path_sep(tokens, open - 2));
    (!generic_arguments).then_some(open)
}

/// At `at`, `impl [<..>] path::Trait[<..>] for Type`, `Trait` being `name` or an alias: the
/// index of the type's last token (before a `where`, a body or a `;`).
fn impl_of(tokens: &[TokenTree], at: usize, name: &str, names: &Names) -> Option<usize> {
    if !ident_is(&tokens[at], "impl") {
        return None;
    }
    let mut k = at + 1;
    if punct_is(tokens.get(k), '<') {
        k = skip_angle_brackets(tokens, k)?;
    }
    if is_path_sep(tokens, k) {
        k += 2;
    }
    if !matches!(tokens.get(k), Some(TokenTree::Ident(_))) {
        return None;
    }
    while is_path_sep(tokens, k + 1) && matches!(tokens.get(k + 3), Some(TokenTree::Ident(_))) {
        k += 3;
    }
    if !names.is(&tokens[k], name) {
        return None;
    }
    k += 1;
    if punct_is(tokens.get(k), '<') {
        k = skip_angle_brackets(tokens, k)?;
    }
    if !tokens.get(k).is_some_and(|token| ident_is(token, "for")) {
        return None;
    }
    let mut end = k;
    while let Some(token) = tokens.get(end + 1) {
        let body =
            matches!(token, TokenTree::Group(group) if group.delimiter() == Delimiter::Brace);
        if body || ident_is(token, "where") || punct_is(Some(token), ';') {
            break;
        }
        end += 1;
    }
    (end > k).then_some(end)
}

/// At `at`, an attribute `#[..name(.., key = value, ..)]` or `#![..]`: the index of its
/// bracket group and the value's tokens.
fn attribute_value(
    tokens: &[TokenTree],
    at: usize,
    name: &str,
    key: &str,
) -> Option<(usize, Vec<TokenTree>)> {
    if !punct_is(tokens.get(at), '#') {
        return None;
    }
    let mut bracket = at + 1;
    if punct_is(tokens.get(bracket), '!') {
        bracket += 1;
    }
    let TokenTree::Group(group) = tokens.get(bracket)? else {
        return None;
    };
    if group.delimiter() != Delimiter::Bracket {
        return None;
    }
    let inner: Vec<TokenTree> = group.stream().into_iter().collect();
    // `path(args)` and nothing else, the path ending in `name`.
    let [path @ .., TokenTree::Group(args)] = inner.as_slice() else {
        return None;
    };
    let last = path.len().checked_sub(1)?;
    if args.delimiter() != Delimiter::Parenthesis
        || !ident_is(&path[last], name)
        || path_start(path, last) != 0
    {
        return None;
    }
    let args: Vec<TokenTree> = args.stream().into_iter().collect();
    let mut k = 0;
    while k < args.len() {
        let is_key = ident_is(&args[k], key)
            && (k == 0 || punct_is(args.get(k - 1), ','))
            && matches!(args.get(k + 1), Some(TokenTree::Punct(p)) if p.as_char() == '=' && p.spacing() == Spacing::Alone);
        if is_key {
            let value = args[k + 2..]
                .iter()
                .take_while(|token| !punct_is(Some(token), ','))
                .cloned()
                .collect();
            return Some((bracket, value));
        }
        k += 1;
    }
    None
}

#[cfg(test)]
mod tests;
