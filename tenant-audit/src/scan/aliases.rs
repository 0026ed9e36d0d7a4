//! The names a source gives the patterns' types and functions: `use .. as` and `type` aliases,
//! what each `use` brings into scope (so `use sqlx::query;` makes `query(..)` sqlx's), and, for
//! each name the patterns look for, every spelling it may have.

use std::collections::{BTreeSet, HashMap};

use proc_macro2::{Delimiter, TokenStream, TokenTree};

use super::tokens::{ident_is, is_path_sep, paren_group, punct_is};
use crate::patterns::CHECKED_NAMESPACE;

/// One alias a source makes: `(alias, name)` for `use path::name as alias;` or
/// `type alias = path::name;`.
pub(crate) type Alias = (String, String);

/// One name a `use` item brings into scope: `use sqlx::query as q;` is `q`, imported from
/// `sqlx`, leaf `query`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Import {
    /// The module the `use` is written in: the file's ([`module_of_file`]) or an inline
    /// `mod NAME { .. }`'s.
    pub(crate) module: String,
    /// The name it is known by there: the leaf or its `as` alias; `*` for a glob.
    pub(crate) local: String,
    /// The segment before the leaf (`sqlx` in `use sqlx::query`), written `tenant::sqlx` for
    /// the checked queries' namespace ([`CHECKED_NAMESPACE`]), which is not sqlx; empty for a
    /// path of one segment.
    pub(crate) from: String,
    /// The last segment (`query`), or the module itself for `self` in braces; `*` for a glob.
    pub(crate) leaf: String,
    /// Written `pub use` (any visibility): a re-export, which other modules reach as
    /// `module::local`.
    pub(crate) public: bool,
}

/// What one file tells every other file: the aliases it makes (a `pub use .. as` in `lib.rs`
/// used as `crate::C` elsewhere) and what it re-exports (`pub use sqlx::query;` in `db.rs`,
/// called as `db::query(..)` elsewhere).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Shared {
    pub(crate) aliases: Vec<Alias>,
    pub(crate) exports: Vec<Import>,
}

impl Shared {
    pub(crate) fn extend(&mut self, other: Shared) {
        self.aliases.extend(other.aliases);
        self.exports.extend(other.exports);
    }
}

/// The module a file is: `db` for `db.rs` and `db/mod.rs`, `crate` for `lib.rs` and
/// `main.rs` (what `crate::name` reaches).
///
/// The walker names files with `/`; a bare file name is its own module.
pub(crate) fn module_of_file(path: &str) -> String {
    let mut parts = path.rsplit('/');
    let file = parts.next().unwrap_or_default();
    let stem = file.strip_suffix(".rs").unwrap_or(file);
    match stem {
        "lib" | "main" => "crate".to_owned(),
        "mod" => parts.next().unwrap_or("crate").to_owned(),
        other => other.to_owned(),
    }
}

/// Every `use .. name as alias` and `type alias = path::name;` at any depth. Nothing is
/// resolved: a name is its last path segment, which is what the patterns match on too.
/// `tenant::sqlx` renamed (`use tenant::sqlx as ts;`) is no alias of `sqlx`: it is the checked
/// queries' namespace.
pub(super) fn alias_edges(stream: TokenStream, out: &mut Vec<Alias>) {
    let mut imports = Vec::new();
    use_items(stream.clone(), "", &mut imports);
    out.extend(
        imports
            .into_iter()
            .filter(|import| import.local != import.leaf && import.leaf != "*")
            .filter(|import| !is_checked_namespace(&import.from, &import.leaf))
            .map(|import| (import.local, import.leaf)),
    );
    type_aliases(stream, out);
}

fn type_aliases(stream: TokenStream, out: &mut Vec<Alias>) {
    let tokens: Vec<TokenTree> = stream.into_iter().collect();
    for (at, token) in tokens.iter().enumerate() {
        if ident_is(token, "type")
            && let (Some(TokenTree::Ident(alias)), true) =
                (tokens.get(at + 1), punct_is(tokens.get(at + 2), '='))
        {
            let end = (at..tokens.len())
                .find(|&k| punct_is(tokens.get(k), ';'))
                .unwrap_or(tokens.len());
            let path = &tokens[at + 3..end];
            let only_a_path = !path.is_empty()
                && path.iter().all(|token| {
                    matches!(token, TokenTree::Ident(_)) || punct_is(Some(token), ':')
                });
            if let (true, Some(TokenTree::Ident(name))) = (only_a_path, path.last()) {
                out.push((alias.to_string(), name.to_string()));
            }
        }
        if let TokenTree::Group(group) = token {
            type_aliases(group.stream(), out);
        }
    }
}

/// `leaf` imported from `from` is the checked queries' namespace itself (`tenant::sqlx`).
pub(super) fn is_checked_namespace(from: &str, leaf: &str) -> bool {
    (from, leaf) == CHECKED_NAMESPACE
}

/// Every name the `use` items of `stream` bring in, at any depth, each with the module it is
/// written in (`module` at the top, an inline `mod NAME { .. }`'s inside it).
pub(super) fn use_items(stream: TokenStream, module: &str, out: &mut Vec<Import>) {
    let tokens: Vec<TokenTree> = stream.into_iter().collect();
    for (at, token) in tokens.iter().enumerate() {
        if ident_is(token, "use") {
            let end = (at..tokens.len())
                .find(|&k| punct_is(tokens.get(k), ';'))
                .unwrap_or(tokens.len());
            let public = visibility_before(&tokens, at);
            let item = Item { module, public };
            use_tree(&tokens[at + 1..end], Vec::new(), &item, out);
        }
        if let TokenTree::Group(group) = token {
            let before = |back: usize| at.checked_sub(back).map(|k| &tokens[k]);
            let inline_module = match (before(2), before(1)) {
                (Some(keyword), Some(TokenTree::Ident(name)))
                    if ident_is(keyword, "mod") && group.delimiter() == Delimiter::Brace =>
                {
                    Some(name.to_string())
                }
                _ => None,
            };
            use_items(
                group.stream(),
                inline_module.as_deref().unwrap_or(module),
                out,
            );
        }
    }
}

/// `pub`, `pub(crate)`, `pub(in path)` right before `at`.
fn visibility_before(tokens: &[TokenTree], at: usize) -> bool {
    match at.checked_sub(1).map(|k| &tokens[k]) {
        Some(token) if ident_is(token, "pub") => true,
        Some(token) if paren_group(token).is_some() => at >= 2 && ident_is(&tokens[at - 2], "pub"),
        _ => false,
    }
}

struct Item<'a> {
    module: &'a str,
    public: bool,
}

/// One `use` tree (`a::b`, `a::b as c`, `a::*`, `a::{b, c::d as e, self}`) under `prefix`.
fn use_tree(tokens: &[TokenTree], mut prefix: Vec<String>, item: &Item<'_>, out: &mut Vec<Import>) {
    let mut k = if is_path_sep(tokens, 0) { 2 } else { 0 };
    loop {
        match tokens.get(k) {
            Some(TokenTree::Ident(ident)) if is_path_sep(tokens, k + 1) => {
                prefix.push(ident.to_string());
                k += 3;
            }
            Some(TokenTree::Ident(ident)) => {
                let written = ident.to_string();
                let renamed = match (tokens.get(k + 1), tokens.get(k + 2)) {
                    (Some(keyword), Some(TokenTree::Ident(alias))) if ident_is(keyword, "as") => {
                        Some(alias.to_string())
                    }
                    _ => None,
                };
                // `{self}` brings in the module the braces are under.
                let (leaf, from) = if written == "self" {
                    let Some((leaf, rest)) = prefix.split_last() else {
                        return;
                    };
                    (leaf.clone(), from_of(rest))
                } else {
                    (written, from_of(&prefix))
                };
                let local = renamed.unwrap_or_else(|| leaf.clone());
                // `as _` names nothing a call could use.
                if local != "_" {
                    out.push(Import {
                        module: item.module.to_owned(),
                        local,
                        from,
                        leaf,
                        public: item.public,
                    });
                }
                return;
            }
            Some(star) if punct_is(Some(star), '*') => {
                out.push(Import {
                    module: item.module.to_owned(),
                    local: "*".to_owned(),
                    from: from_of(&prefix),
                    leaf: "*".to_owned(),
                    public: item.public,
                });
                return;
            }
            Some(TokenTree::Group(group)) if group.delimiter() == Delimiter::Brace => {
                let inner: Vec<TokenTree> = group.stream().into_iter().collect();
                for branch in inner.split(|token| punct_is(Some(token), ',')) {
                    use_tree(branch, prefix.clone(), item, out);
                }
                return;
            }
            _ => return,
        }
    }
}

/// The segment a leaf is imported from: the last of `prefix`, or the checked namespace's name.
fn from_of(prefix: &[String]) -> String {
    match prefix {
        [.., parent, last] if is_checked_namespace(parent, last) => {
            format!("{parent}::{last}")
        }
        [.., last] => last.clone(),
        [] => String::new(),
    }
}

/// For each name the patterns look for, every name it may be written as: itself and its
/// aliases, aliases of aliases included.
pub(super) struct Names(HashMap<&'static str, BTreeSet<String>>);

impl Names {
    pub(super) fn new(names: &[&'static str], aliases: &[Alias]) -> Self {
        let mut map: HashMap<&'static str, BTreeSet<String>> = names
            .iter()
            .map(|&name| (name, BTreeSet::from([name.to_owned()])))
            .collect();
        for spellings in map.values_mut() {
            loop {
                let before = spellings.len();
                for (alias, name) in aliases {
                    if spellings.contains(name) {
                        spellings.insert(alias.clone());
                    }
                }
                if spellings.len() == before {
                    break;
                }
            }
        }
        Names(map)
    }

    /// Whether `token` is the identifier `name` or one of its aliases.
    pub(super) fn is(&self, token: &TokenTree, name: &str) -> bool {
        match token {
            TokenTree::Ident(ident) => self.is_written(&ident.to_string(), name),
            _ => false,
        }
    }

    /// Whether `written` is `name` or one of its aliases.
    pub(super) fn is_written(&self, written: &str, name: &str) -> bool {
        match self.0.get(name) {
            Some(spellings) => spellings.contains(written),
            None => written == name,
        }
    }
}
