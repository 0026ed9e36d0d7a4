//! `{Path}` placeholders, found on the tokenizer's tokens so comments and string literals can
//! neither hide nor forge one.

use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::tokenizer::{Token, Tokenizer};

use crate::{EntityRef, Error, Piece};

/// The SQL with its placeholders split out.
pub(crate) struct Split {
    pub(crate) pieces: Vec<crate::Piece>,
    pub(crate) entities: Vec<EntityRef>,
    /// The SQL with each placeholder replaced by a private identifier.
    pub(crate) text: String,
}

/// Byte offset of each line start, to turn the tokenizer's line:column into byte offsets.
pub(crate) struct Lines<'a> {
    sql: &'a str,
    starts: Vec<usize>,
}

impl<'a> Lines<'a> {
    pub(crate) fn new(sql: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(sql.match_indices('\n').map(|(i, _)| i + 1));
        Self { sql, starts }
    }

    /// The byte offset of a 1-based line and character column.
    pub(crate) fn offset(&self, line: u64, column: u64) -> usize {
        let Some(&start) = usize::try_from(line)
            .ok()
            .and_then(|l| self.starts.get(l.wrapping_sub(1)))
        else {
            return self.sql.len();
        };
        let column = usize::try_from(column)
            .unwrap_or(usize::MAX)
            .saturating_sub(1);
        self.sql[start..]
            .char_indices()
            .nth(column)
            .map_or(self.sql.len(), |(i, _)| start + i)
    }
}

pub(crate) fn split(sql: &str) -> Result<Split, Vec<Error>> {
    let dialect = PostgreSqlDialect {};
    let tokens = Tokenizer::new(&dialect, sql)
        .tokenize_with_location()
        .map_err(|e| {
            vec![Error {
                span: 0..sql.len(),
                message: format!("the SQL cannot be read: {}", e.message),
                help: "write SQL the PostgreSQL or SQLite parser reads".into(),
            }]
        })?;
    let lines = Lines::new(sql);
    let mut pieces = Vec::new();
    let mut entities: Vec<EntityRef> = Vec::new();
    let mut text = String::new();
    let mut sql_start = 0;
    let mut i = 0;
    while i < tokens.len() {
        if tokens[i].token == Token::LBrace {
            let open = lines.offset(tokens[i].span.start.line, tokens[i].span.start.column);
            let Some(close) = tokens[i..].iter().position(|t| t.token == Token::RBrace) else {
                return Err(vec![Error {
                    span: open..sql.len(),
                    message: "`{` opens an entity placeholder that is never closed".into(),
                    help: "name an entity as `{Invoice}`".into(),
                }]);
            };
            let close_tok = &tokens[i + close];
            let end = lines.offset(close_tok.span.start.line, close_tok.span.start.column) + 1;
            let path: String = sql[open + 1..end - 1].split_whitespace().collect();
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
            pieces.push(Piece::Sql(sql[sql_start..open].to_owned()));
            pieces.push(Piece::Table(index));
            text.push_str(&sql[sql_start..open]);
            text.push_str(&format!(" __tenant_e{index}__ "));
            sql_start = end;
            i += close + 1;
        } else {
            i += 1;
        }
    }
    pieces.push(Piece::Sql(sql[sql_start..].to_owned()));
    text.push_str(&sql[sql_start..]);
    pieces.retain(|p| !matches!(p, Piece::Sql(s) if s.is_empty()));
    Ok(Split {
        pieces,
        entities,
        text,
    })
}
