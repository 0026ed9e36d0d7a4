//! The rewritten statement as pieces: the engine's markers become `Piece::Table` and
//! `Piece::TenantColumn`, everything else is SQL text.

use crate::placeholders::RESERVED;
use crate::{Error, Piece};

/// Splits the rendered statement on its markers; `expected` is how many the walk placed.
///
/// The user's SQL cannot contain the reserved prefix (refused before parsing), so a marker
/// count other than `expected` means one appeared where the walk did not put it (an entity
/// placeholder used as a type, a function or an alias): refused.
pub(crate) fn pieces(
    rendered: &str,
    expected: usize,
    sql_len: usize,
) -> Result<Vec<Piece>, Vec<Error>> {
    let mut pieces = Vec::new();
    let mut rest = rendered;
    let mut text = String::new();
    let mut found = 0;
    while let Some(at) = rest.find(RESERVED) {
        let after = &rest[at + RESERVED.len()..];
        let kind = after.chars().next();
        let digits: String = after
            .chars()
            .skip(1)
            .take_while(char::is_ascii_digit)
            .collect();
        let marker = match (kind, digits.parse::<usize>()) {
            (Some('e'), Ok(i)) if after[1 + digits.len()..].starts_with("__") => {
                Some(Piece::Table(i))
            }
            (Some('c'), Ok(i)) if after[1 + digits.len()..].starts_with("__") => {
                Some(Piece::TenantColumn(i))
            }
            _ => None,
        };
        match marker {
            Some(piece) => {
                text.push_str(&rest[..at]);
                if !text.is_empty() {
                    pieces.push(Piece::Sql(std::mem::take(&mut text)));
                }
                pieces.push(piece);
                found += 1;
                rest = &after[1 + digits.len() + 2..];
            }
            // A private alias or CTE name: plain SQL text.
            None => {
                text.push_str(&rest[..at + RESERVED.len()]);
                rest = after;
            }
        }
    }
    text.push_str(rest);
    if !text.is_empty() {
        pieces.push(Piece::Sql(text));
    }
    if found != expected {
        return Err(vec![Error {
            span: 0..sql_len,
            message: "an entity placeholder `{..}` is used where a table cannot be".into(),
            help: "name entities only as tables: `FROM {Invoice} i`, `JOIN {Customer} c`, `UPDATE {Invoice}`, `INSERT INTO {Invoice}`".into(),
        }]);
    }
    Ok(pieces)
}
