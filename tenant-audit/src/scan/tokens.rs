//! Token shapes the scanner asks about: an identifier, a punctuation, a path separator, a
//! turbofish, a method call's receiver, a string literal's value.

use proc_macro2::{Delimiter, Literal, Spacing, TokenTree};

pub(super) fn span_of(token: &TokenTree) -> proc_macro2::Span {
    match token {
        TokenTree::Group(group) => group.span_open(),
        other => other.span(),
    }
}

pub(super) fn ident_is(token: &TokenTree, name: &str) -> bool {
    matches!(token, TokenTree::Ident(ident) if ident == name)
}

pub(super) fn punct_is(token: Option<&TokenTree>, ch: char) -> bool {
    matches!(token, Some(TokenTree::Punct(punct)) if punct.as_char() == ch)
}

pub(super) fn paren_group(token: &TokenTree) -> Option<&proc_macro2::Group> {
    match token {
        TokenTree::Group(group) if group.delimiter() == Delimiter::Parenthesis => Some(group),
        _ => None,
    }
}

/// `::` starting at `at`.
pub(super) fn is_path_sep(tokens: &[TokenTree], at: usize) -> bool {
    matches!(tokens.get(at), Some(TokenTree::Punct(p)) if p.as_char() == ':' && p.spacing() == Spacing::Joint)
        && punct_is(tokens.get(at + 1), ':')
}

/// Past the `<..>` opening at `open` (nested ones included; the `>` of `->` closes nothing).
pub(super) fn skip_angle_brackets(tokens: &[TokenTree], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (k, token) in tokens.iter().enumerate().skip(open) {
        match token {
            TokenTree::Punct(p) if p.as_char() == '<' => depth += 1,
            TokenTree::Punct(p) if p.as_char() == '>' && !punct_is(tokens.get(k - 1), '-') => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(k + 1);
                }
            }
            _ => {}
        }
    }
    None
}

/// Walks back from the identifier at `at` over `segment ::` pairs and a leading `::` (or the
/// `$` of a macro's `$crate`).
pub(super) fn path_start(tokens: &[TokenTree], mut at: usize) -> usize {
    while at >= 2 && is_path_sep(tokens, at - 2) {
        if at >= 3 && matches!(tokens[at - 3], TokenTree::Ident(_)) {
            at -= 3;
        } else {
            return at - 2;
        }
    }
    if at >= 1 && ident_is(&tokens[at], "crate") && punct_is(tokens.get(at - 1), '$') {
        at -= 1;
    }
    at
}

/// Past a turbofish `::<..>` starting at `at`, or `at` itself.
pub(super) fn skip_turbofish(tokens: &[TokenTree], at: usize) -> usize {
    if !is_path_sep(tokens, at) || !punct_is(tokens.get(at + 2), '<') {
        return at;
    }
    skip_angle_brackets(tokens, at + 2).unwrap_or(at)
}

/// The identifier at `at` follows a single `.` (a method call, not a range `..`).
pub(super) fn is_method_dot(tokens: &[TokenTree], at: usize) -> bool {
    at >= 1 && punct_is(tokens.get(at - 1), '.') && !(at >= 2 && punct_is(tokens.get(at - 2), '.'))
}

/// The receiver before the dot at `dot`: its first index and its name, the identifier just
/// before (`claim.`), or before a call there (`claim().`, `claim()?.`).
pub(super) fn receiver(tokens: &[TokenTree], dot: usize) -> Option<(usize, String)> {
    let mut k = dot.checked_sub(1)?;
    if punct_is(tokens.get(k), '?') {
        k = k.checked_sub(1)?;
    }
    if paren_group(&tokens[k]).is_some() {
        k = k.checked_sub(1)?;
    }
    match &tokens[k] {
        TokenTree::Ident(ident) => Some((k, ident.to_string())),
        _ => None,
    }
}

/// The value of a string literal (`".."` with its escapes, or raw `r#".."#`); `None` for any
/// other literal, a byte or C string, or a literal with a suffix.
pub(super) fn string_value(lit: &Literal) -> Option<String> {
    let repr = lit.to_string();
    if let Some(rest) = repr.strip_prefix('r') {
        let hashes = rest.len() - rest.trim_start_matches('#').len();
        let body = rest[hashes..].strip_prefix('"')?;
        let body = body.strip_suffix(&"#".repeat(hashes))?.strip_suffix('"')?;
        return Some(body.to_owned());
    }
    let body = repr.strip_prefix('"')?.strip_suffix('"')?;
    unescape(body)
}

pub(super) fn unescape(body: &str) -> Option<String> {
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next()? {
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            '0' => out.push('\0'),
            '\\' => out.push('\\'),
            '\'' => out.push('\''),
            '"' => out.push('"'),
            'x' => {
                let hex: String = [chars.next()?, chars.next()?].iter().collect();
                let byte = u8::from_str_radix(&hex, 16).ok().filter(u8::is_ascii)?;
                out.push(char::from(byte));
            }
            'u' => {
                if chars.next()? != '{' {
                    return None;
                }
                let mut hex = String::new();
                loop {
                    match chars.next()? {
                        '}' => break,
                        '_' => {}
                        digit => hex.push(digit),
                    }
                }
                out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
            }
            // A line continuation: the newline and the next line's leading whitespace go.
            '\n' | '\r' => while chars.next_if(|c| c.is_ascii_whitespace()).is_some() {},
            _ => return None,
        }
    }
    Some(out)
}
