//! `{Path}` placeholders, found on the tokenizer's tokens so comments and string literals can
//! neither hide nor forge one, and the map from the rewritten text back to the user's bytes.

use std::ops::Range;

use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::tokenizer::{Span, Token, Tokenizer, Whitespace};

use crate::{EntityRef, Error};

/// The prefix of every identifier the engine writes (entity markers, tenant column markers,
/// private aliases and CTE names). The user's SQL may not contain it anywhere, so every one in
/// the rendered text is the engine's own.
pub(crate) const RESERVED: &str = "__tenant_";

/// The SQL with its placeholders replaced by private identifiers.
pub(crate) struct Split {
    pub(crate) entities: Vec<EntityRef>,
    /// The SQL the parser reads: each `{Path}` replaced by ` __tenant_e<i>__ `.
    pub(crate) text: String,
    pub(crate) map: SpanMap,
}

/// Byte offset of each line start, to turn the tokenizer's line:column into byte offsets.
pub(crate) struct Lines<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> Lines<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Self { text, starts }
    }

    /// The byte offset of a 1-based line and character column (the tokenizer counts chars).
    pub(crate) fn offset(&self, line: u64, column: u64) -> Option<usize> {
        let line = usize::try_from(line).ok()?.checked_sub(1)?;
        let start = *self.starts.get(line)?;
        let column = usize::try_from(column).ok()?.checked_sub(1)?;
        let rest = &self.text[start..];
        match rest.char_indices().nth(column) {
            Some((i, _)) => Some(start + i),
            None if rest.chars().count() == column => Some(start + rest.len()),
            None => None,
        }
    }
}

/// One stretch of the parser's text and where it came from in the user's SQL.
struct Segment {
    text: Range<usize>,
    /// The user's bytes: the same length for copied text, the whole `{Path}` for a marker.
    sql: Range<usize>,
    copied: bool,
}

/// Maps byte ranges of the parser's text (and the parser's spans) back to the user's SQL.
pub(crate) struct SpanMap {
    segments: Vec<Segment>,
    text_lines_starts: Vec<usize>,
    text: String,
    sql_len: usize,
}

impl SpanMap {
    fn sql_offset(&self, at: usize, end: bool) -> usize {
        for seg in &self.segments {
            let inside = if end {
                seg.text.start < at && at <= seg.text.end
            } else {
                seg.text.start <= at && at < seg.text.end
            };
            if inside {
                return if seg.copied {
                    seg.sql.start + (at - seg.text.start)
                } else if end {
                    seg.sql.end
                } else {
                    seg.sql.start
                };
            }
        }
        self.sql_len
    }

    /// The user's byte range for a range of the parser's text.
    pub(crate) fn sql_range(&self, text: Range<usize>) -> Range<usize> {
        let start = self.sql_offset(text.start, false);
        let end = self.sql_offset(text.end, true).max(start);
        start..end
    }

    /// The user's byte range for a parser span; the whole SQL when the span is unknown.
    pub(crate) fn span(&self, span: Span) -> Range<usize> {
        let lines = Lines {
            text: &self.text,
            starts: self.text_lines_starts.clone(),
        };
        match (
            lines.offset(span.start.line, span.start.column),
            lines.offset(span.end.line, span.end.column),
        ) {
            (Some(start), Some(end)) if start < end => self.sql_range(start..end),
            _ => 0..self.sql_len,
        }
    }

    /// The user's byte offset of a line:column of the parser's text (parser error positions).
    pub(crate) fn position(&self, line: u64, column: u64) -> Option<usize> {
        let lines = Lines {
            text: &self.text,
            starts: self.text_lines_starts.clone(),
        };
        lines
            .offset(line, column)
            .map(|at| self.sql_offset(at, false))
    }
}

fn error(span: Range<usize>, message: impl Into<String>, help: impl Into<String>) -> Error {
    Error {
        span,
        message: message.into(),
        help: help.into(),
    }
}

/// Whether `path` is a Rust path of plain identifiers (`Invoice`, `crate::model::Invoice`).
fn is_path(path: &str) -> bool {
    let path = path.strip_prefix("::").unwrap_or(path);
    !path.is_empty()
        && path.split("::").all(|part| {
            let mut chars = part.chars();
            chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
                && chars.all(|c| c.is_alphanumeric() || c == '_')
                && part != "_"
        })
}

pub(crate) fn split(sql: &str) -> Result<Split, Vec<Error>> {
    if let Some(at) = sql.to_ascii_lowercase().find(RESERVED) {
        return Err(vec![error(
            at..at + RESERVED.len(),
            format!("`{RESERVED}` is reserved for the identifiers the checker writes"),
            "rename the identifier (no name may contain `__tenant_`, even in a comment or a string)",
        )]);
    }
    let dialect = PostgreSqlDialect {};
    let tokens = Tokenizer::new(&dialect, sql)
        .tokenize_with_location()
        .map_err(|e| {
            let lines = Lines::new(sql);
            let at = lines
                .offset(e.location.line, e.location.column)
                .unwrap_or(0);
            vec![error(
                at..sql.len(),
                format!("the SQL cannot be read: {}", e.message),
                "write SQL that PostgreSQL and SQLite both read",
            )]
        })?;
    let lines = Lines::new(sql);
    let start_of = |t: &sqlparser::tokenizer::TokenWithSpan| {
        lines
            .offset(t.span.start.line, t.span.start.column)
            .unwrap_or(sql.len())
    };
    let mut entities: Vec<EntityRef> = Vec::new();
    let mut text = String::new();
    let mut segments = Vec::new();
    let mut copied_from = 0;
    let copy = |text: &mut String, segments: &mut Vec<Segment>, from: usize, upto: usize| {
        if upto > from {
            let start = text.len();
            text.push_str(&sql[from..upto]);
            segments.push(Segment {
                text: start..text.len(),
                sql: from..upto,
                copied: true,
            });
        }
    };
    let mut i = 0;
    while i < tokens.len() {
        let token = &tokens[i].token;
        let next = tokens.get(i + 1).map(|t| &t.token);
        match token {
            // `{{` and `}}` are literal braces: the second one is dropped.
            Token::LBrace | Token::RBrace if next == Some(token) => {
                let second = start_of(&tokens[i + 1]);
                copy(&mut text, &mut segments, copied_from, second);
                copied_from = second + 1;
                i += 2;
            }
            Token::LBrace => {
                let open = start_of(&tokens[i]);
                let Some(close) = tokens[i + 1..]
                    .iter()
                    .position(|t| t.token == Token::RBrace)
                else {
                    return Err(vec![error(
                        open..sql.len(),
                        "`{` opens an entity placeholder that is never closed",
                        "name an entity as `{Invoice}`; write `{{` for a literal brace",
                    )]);
                };
                let close = i + 1 + close;
                let end = start_of(&tokens[close]) + 1;
                // The path is rebuilt from the tokens: identifiers joined by `::`, nothing else
                // (two identifiers in a row, quotes or other punctuation are not a path).
                let mut path = String::new();
                let mut expect_word = true;
                let mut valid = true;
                for t in &tokens[i + 1..close] {
                    match &t.token {
                        // Blanks only: a comment inside the braces would hide part of the path.
                        Token::Whitespace(
                            Whitespace::Space | Whitespace::Tab | Whitespace::Newline,
                        ) => {}
                        Token::Word(w) if expect_word && w.quote_style.is_none() => {
                            path.push_str(&w.value);
                            expect_word = false;
                        }
                        Token::DoubleColon if !expect_word || path.is_empty() => {
                            path.push_str("::");
                            expect_word = true;
                        }
                        _ => valid = false,
                    }
                }
                if !valid || expect_word || !is_path(&path) {
                    return Err(vec![error(
                        open..end,
                        format!("`{}` is not an entity path", &sql[open..end]),
                        "name a #[tenant_scoped] entity by its Rust path: `{Invoice}` or `{crate::model::Invoice}`",
                    )]);
                }
                let index = match entities.iter().position(|e| e.path == path) {
                    Some(index) => index,
                    None => {
                        entities.push(EntityRef {
                            path,
                            span: open..end,
                        });
                        entities.len() - 1
                    }
                };
                copy(&mut text, &mut segments, copied_from, open);
                let start = text.len();
                text.push_str(&format!(" {RESERVED}e{index}__ "));
                segments.push(Segment {
                    text: start..text.len(),
                    sql: open..end,
                    copied: false,
                });
                copied_from = end;
                i = close + 1;
            }
            Token::RBrace => {
                let at = start_of(&tokens[i]);
                return Err(vec![error(
                    at..at + 1,
                    "`}` closes no entity placeholder",
                    "name an entity as `{Invoice}`; write `}}` for a literal brace",
                )]);
            }
            _ => i += 1,
        }
    }
    copy(&mut text, &mut segments, copied_from, sql.len());
    let text_lines_starts = Lines::new(&text).starts;
    Ok(Split {
        entities,
        map: SpanMap {
            segments,
            text_lines_starts,
            text: text.clone(),
            sql_len: sql.len(),
        },
        text,
    })
}
