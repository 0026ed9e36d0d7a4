//! The names a source gives the patterns' types: `use .. as` and `type` aliases, and, for
//! each name the patterns look for, every spelling it may have.

use std::collections::{BTreeSet, HashMap};

use proc_macro2::{TokenStream, TokenTree};

use super::tokens::{ident_is, punct_is};

/// One alias a source makes: `(alias, name)` for `use path::name as alias;` or
/// `type alias = path::name;`.
pub(crate) type Alias = (String, String);

/// Every `use .. name as alias` and `type alias = path::name;` at any depth. Nothing is
/// resolved: a name is its last path segment, which is what the patterns match on too.
pub(super) fn alias_edges(stream: TokenStream, out: &mut Vec<Alias>) {
    let tokens: Vec<TokenTree> = stream.into_iter().collect();
    let item_end = |from: usize| {
        (from..tokens.len())
            .find(|&k| punct_is(tokens.get(k), ';'))
            .unwrap_or(tokens.len())
    };
    for (at, token) in tokens.iter().enumerate() {
        if ident_is(token, "use") {
            use_renames(&tokens[at + 1..item_end(at)], out);
        } else if ident_is(token, "type")
            && let (Some(TokenTree::Ident(alias)), true) =
                (tokens.get(at + 1), punct_is(tokens.get(at + 2), '='))
        {
            let path = &tokens[at + 3..item_end(at)];
            let only_a_path = !path.is_empty()
                && path.iter().all(|token| {
                    matches!(token, TokenTree::Ident(_)) || punct_is(Some(token), ':')
                });
            if let (true, Some(TokenTree::Ident(name))) = (only_a_path, path.last()) {
                out.push((alias.to_string(), name.to_string()));
            }
        }
        if let TokenTree::Group(group) = token {
            alias_edges(group.stream(), out);
        }
    }
}

/// The `name as alias` pairs of a `use` tree, braces included.
pub(super) fn use_renames(tokens: &[TokenTree], out: &mut Vec<Alias>) {
    for (at, token) in tokens.iter().enumerate() {
        if let TokenTree::Group(group) = token {
            let inner: Vec<TokenTree> = group.stream().into_iter().collect();
            use_renames(&inner, out);
        }
        if at >= 1
            && ident_is(token, "as")
            && let (TokenTree::Ident(name), Some(TokenTree::Ident(alias))) =
                (&tokens[at - 1], tokens.get(at + 1))
            && alias != "_"
        {
            out.push((alias.to_string(), name.to_string()));
        }
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
        match (token, self.0.get(name)) {
            (TokenTree::Ident(ident), Some(spellings)) => spellings.contains(&ident.to_string()),
            _ => ident_is(token, name),
        }
    }
}
