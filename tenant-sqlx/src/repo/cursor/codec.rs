//! The cursor's bytes (see the module above for the format): the payload a cursor carries and
//! the context its tag covers, and reading a payload back.

use sea_query::Value;

use super::error::CursorError;
use crate::repo::meta::EntityMeta;
use crate::repo::order::Resolved;
use crate::repo::shape::{Dir, Node, Op};
use crate::repo::value::{self, Reader, put_bytes};

/// What the MAC input starts with, so a tag of this scheme means nothing anywhere else.
pub(super) const DOMAIN: &[u8] = b"tenant-sqlx/cursor/v1\0";
pub(super) const VERSION: u8 = 1;
pub(super) const TAG_LEN: usize = 32;
/// Version and value count.
pub(super) const HEADER_LEN: usize = 3;
/// The tag of a filter value of a type no ordered column has (see [`put_value`]).
pub(super) const NO_KIND_TAG: u8 = 0xff;
/// Longer texts are refused before decoding: a cursor carries a few ordering values, and a
/// request should not make the server MAC megabytes.
pub(super) const MAX_TEXT_LEN: usize = 4096;

/// `version || count || value*`: what a cursor carries, before its tag.
pub(super) fn payload(values: &[Value]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(HEADER_LEN + 16 * values.len() + TAG_LEN);
    bytes.push(VERSION);
    put_len16(&mut bytes, values.len());
    for value in values {
        put_value(&mut bytes, value);
    }
    bytes
}

/// What gives a cursor's values their meaning, for its tag: the order (each column's name,
/// direction and value type) and the filter (its nodes and its values).
pub(super) fn context(
    meta: &EntityMeta,
    order: &Resolved,
    (shape, filter_values): (&[Node], &[Value]),
) -> Vec<u8> {
    let mut context = Vec::with_capacity(64);
    put_len16(&mut context, order.terms.len());
    for (i, term) in order.terms.iter().enumerate() {
        put_str(&mut context, meta.columns[term.column].name);
        context.push(match term.dir {
            Dir::Asc => 0,
            Dir::Desc => 1,
        });
        context.push(order.kinds.get(i).map_or(0, |kind| kind.tag()));
    }
    put_len32(&mut context, shape.len());
    for &node in shape {
        put_node(&mut context, node);
    }
    put_len32(&mut context, filter_values.len());
    for value in filter_values {
        put_value(&mut context, value);
    }
    context
}

pub(super) fn decode_values(
    payload: &[u8],
    meta: &EntityMeta,
    order: &Resolved,
) -> Result<Vec<Value>, CursorError> {
    let malformed = |reason| CursorError::Malformed { reason };
    let mut reader = Reader(payload);
    if reader.byte() != Some(VERSION) {
        return Err(malformed("unknown version"));
    }
    let count = reader
        .take(2)
        .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])));
    if count != Some(order.terms.len()) || order.kinds.len() != order.terms.len() {
        return Err(malformed("wrong number of values"));
    }
    let mut values = Vec::with_capacity(order.terms.len());
    for (term, &kind) in order.terms.iter().zip(&order.kinds) {
        let column = meta.columns[term.column].name;
        let value = value::decode(&mut reader, kind).ok_or(CursorError::ValueType { column })?;
        values.push(value);
    }
    if !reader.0.is_empty() {
        return Err(malformed("trailing bytes"));
    }
    Ok(values)
}

pub(super) fn len64(len: usize) -> [u8; 8] {
    u64::try_from(len).unwrap_or(u64::MAX).to_be_bytes()
}

fn put_len16(out: &mut Vec<u8>, len: usize) {
    out.extend_from_slice(&u16::try_from(len).unwrap_or(u16::MAX).to_be_bytes());
}

fn put_len32(out: &mut Vec<u8>, len: usize) {
    out.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes());
}

fn put_str(out: &mut Vec<u8>, text: &str) {
    put_bytes(out, text.as_bytes());
}

fn put_node(out: &mut Vec<u8>, node: Node) {
    let column = |out: &mut Vec<u8>, column: usize| put_len32(out, column);
    match node {
        Node::Cmp(c, op) => {
            out.push(1);
            column(out, c);
            out.push(match op {
                Op::Eq => 0,
                Op::Ne => 1,
                Op::Lt => 2,
                Op::Le => 3,
                Op::Gt => 4,
                Op::Ge => 5,
                Op::Like => 6,
            });
        }
        Node::In(c, n) => {
            out.push(2);
            column(out, c);
            put_len32(out, n);
        }
        Node::IsNull(c) => {
            out.push(3);
            column(out, c);
        }
        Node::And => out.push(4),
        Node::Or => out.push(5),
        Node::Not => out.push(6),
    }
}

/// A value as [`value::encode`] writes it. A filter value of a type no ordered column has is
/// written through `Debug` (deterministic for a given value) behind [`NO_KIND_TAG`]: it is only
/// MACed, never read back.
fn put_value(out: &mut Vec<u8>, value: &Value) {
    if !value::encode(out, value) {
        out.push(NO_KIND_TAG);
        out.push(1);
        put_bytes(out, format!("{value:?}").as_bytes());
    }
}
