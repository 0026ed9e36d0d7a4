//! Page cursors: the last row's ordering values, tagged with HMAC-SHA256 over everything that
//! gives them a meaning (tenant, table, order, filter), so a client can hand a cursor back but
//! cannot forge, alter or move one.
//!
//! Text: base64url without padding of `payload || tag`.
//! `payload = version (1) || count (u16 BE) || value*`, each value `type tag (u8) || bytes`.
//! `tag = HMAC-SHA256(key, DOMAIN || lp(tenant id) || lp(table) || lp(context) || payload)`, where
//! `lp(x)` is `x` behind its length as a big-endian `u64` and the context encodes the order
//! (each column's name, direction and type) and the filter (its nodes and its values).

use std::fmt;
use std::marker::PhantomData;
use std::str::FromStr;
use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sea_query::Value;
use sha2::Sha256;

use super::meta::EntityMeta;
use super::order::Resolved;
use super::shape::{Dir, Node, Op};
use super::value::{self, Reader, put_bytes};
use tenant_core::TenantId;

type HmacSha256 = Hmac<Sha256>;

/// What the MAC input starts with, so a tag of this scheme means nothing anywhere else.
const DOMAIN: &[u8] = b"tenant-sqlx/cursor/v1\0";
const VERSION: u8 = 1;
const TAG_LEN: usize = 32;
/// Version and value count.
const HEADER_LEN: usize = 3;
/// The tag of a filter value of a type no ordered column has (see [`put_value`]).
const NO_KIND_TAG: u8 = 0xff;
/// Longer texts are refused before decoding: a cursor carries a few ordering values, and a
/// request should not make the server MAC megabytes.
const MAX_TEXT_LEN: usize = 4096;

/// Why a page cursor or a cursor key was refused. The variants say what was wrong, never which
/// tenant, order or filter the cursor was minted for. A repository returns it as
/// [`Error::Cursor`](crate::Error::Cursor).
///
/// ```
/// # use tenant::{tenant_scoped, Plan, TenantCtx, TenantId};
/// use tenant::sqlx::{CursorError, Error, PageRequest};
/// # #[tenant_scoped(table = "invoices")]
/// # pub struct Invoice { #[key] pub id: i64, #[tenant] pub tenant_id: TenantId }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let pool = sqlx::SqlitePool::connect("sqlite::memory:").await?;
/// let mut invoices = InvoiceRepo::new(&pool);
/// invoices.create_table().await?;
/// let acme = TenantCtx::trusted("acme".parse()?, "tenant_acme".parse()?, Plan::Free);
/// let globex = TenantCtx::trusted("globex".parse()?, "tenant_globex".parse()?, Plan::Free);
/// for id in 1..=3 {
///     invoices.insert(&acme, NewInvoice { id }).await?;
/// }
/// let by_id = || PageRequest::new(Invoice::columns().id.asc(), 2);
/// let acmes_cursor = invoices.page(&acme, by_id()).await?.next;
///
/// // Another tenant cannot continue acme's listing.
/// let stolen = invoices.page(&globex, by_id().after(acmes_cursor)).await;
/// assert!(matches!(stolen, Err(Error::Cursor(CursorError::Invalid))));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CursorError {
    /// The text is not a cursor: empty, not base64url, too short or too long.
    #[error("not a page cursor: {reason}")]
    Malformed {
        /// What is wrong with the text.
        reason: &'static str,
    },
    /// The tag does not verify: the cursor was altered or truncated, or minted for another
    /// tenant, entity, order or filter, or under another key (another process, when no key is
    /// configured).
    #[error(
        "the page cursor does not verify: altered, or minted for another tenant, entity, order or filter, or under another key"
    )]
    Invalid,
    /// A value the cursor carries does not have the type of its column.
    #[error("the page cursor's value for column `{column}` does not have the column's type")]
    ValueType {
        /// The column.
        column: &'static str,
    },
    /// A [`CursorKey`] was given fewer than [`CursorKey::MIN_LEN`] bytes.
    #[error("a cursor key needs at least {min} bytes, got {len}", min = CursorKey::MIN_LEN)]
    KeyTooShort {
        /// The length given.
        len: usize,
    },
    /// No key was configured and the operating system's random source failed to make one.
    #[error("no cursor key configured, and the operating system's random source failed")]
    NoRandomKey,
}

/// The key that tags page cursors (HMAC-SHA256), so that a cursor comes back only to the
/// repository, tenant, order and filter it was minted for.
///
/// Give every replica of a service the same key ([`Repo::with_cursor_key`](crate::Repo::with_cursor_key))
/// so a cursor minted by one is accepted by the others and after a restart. A repository
/// without one uses a random key created once per process: its cursors stop verifying when the
/// process exits and are refused by other processes.
///
/// Only the keyed MAC state is kept, and it is wiped from memory when dropped. `Debug` never
/// shows it.
///
/// ```
/// use tenant::sqlx::{CursorError, CursorKey};
///
/// // Usually 32 bytes from a secret store (`openssl rand -base64 32`, decoded).
/// let key = CursorKey::from_bytes(&[7; 32])?;
/// assert_eq!(format!("{key:?}"), "CursorKey(..)");
/// assert!(matches!(CursorKey::from_bytes(b"short"), Err(CursorError::KeyTooShort { len: 5 })));
/// let _per_process = CursorKey::random()?;
/// # Ok::<(), CursorError>(())
/// ```
#[derive(Clone)]
pub struct CursorKey(HmacSha256);

impl CursorKey {
    /// The shortest key accepted, in bytes: HMAC-SHA256's output size.
    pub const MIN_LEN: usize = 32;

    /// A key from `bytes`, at least [`MIN_LEN`](Self::MIN_LEN) of them.
    pub fn from_bytes(bytes: &[u8]) -> Result<CursorKey, CursorError> {
        if bytes.len() < Self::MIN_LEN {
            return Err(CursorError::KeyTooShort { len: bytes.len() });
        }
        HmacSha256::new_from_slice(bytes)
            .map(CursorKey)
            .map_err(|_| CursorError::KeyTooShort { len: bytes.len() })
    }

    /// A key of 32 bytes from the operating system's random source.
    pub fn random() -> Result<CursorKey, CursorError> {
        let mut bytes = zeroize::Zeroizing::new([0u8; Self::MIN_LEN]);
        getrandom::fill(&mut bytes[..]).map_err(|_| CursorError::NoRandomKey)?;
        Self::from_bytes(&bytes[..])
    }

    /// The key of repositories that were given none: random, made once per process.
    pub(crate) fn process_default() -> Result<&'static CursorKey, CursorError> {
        static KEY: OnceLock<Option<CursorKey>> = OnceLock::new();
        KEY.get_or_init(|| CursorKey::random().ok())
            .as_ref()
            .ok_or(CursorError::NoRandomKey)
    }
}

impl fmt::Debug for CursorKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CursorKey(..)")
    }
}

/// Where the next [`Page`](crate::Page) of entity `E` starts: opaque, tamper-evident text for a
/// client to hand back (a query parameter, a JSON field).
///
/// It carries the last row's ordering values and an HMAC-SHA256 tag over them, the tenant, the
/// entity's table, the order and the filter. [`Repo::page`](crate::Repo::page) refuses it with
/// an [`Error::Cursor`](crate::Error::Cursor) when it was minted for another tenant, another
/// order or filter, or under another key, or was altered in any way. The type parameter keeps a
/// cursor of one entity from being given to another's pages at compile time.
///
/// Parsing ([`FromStr`], `Deserialize`) only checks the text's form; the tag is checked when
/// the cursor is used, against that call's context. The values are readable by whoever holds
/// the cursor (they are the last row's ordering values, which the same tenant was just shown),
/// so order by columns that tenant may see.
///
/// ```
/// # use tenant::{tenant_scoped, TenantId};
/// use tenant::sqlx::{Cursor, CursorError};
/// # #[tenant_scoped(table = "invoices")]
/// # pub struct Invoice { #[key] pub id: i64, #[tenant] pub tenant_id: TenantId }
///
/// assert!(matches!("".parse::<Cursor<Invoice>>(), Err(CursorError::Malformed { .. })));
/// assert!(matches!("not base64!".parse::<Cursor<Invoice>>(), Err(CursorError::Malformed { .. })));
/// ```
pub struct Cursor<E> {
    bytes: Box<[u8]>,
    entity: PhantomData<fn() -> E>,
}

/// The cursor MAC keyed and fed with a call's context (tenant, table, order, filter): what
/// opening a cursor and minting the next one share, computed once per call.
pub(crate) struct Seal(HmacSha256);

impl Seal {
    pub(crate) fn new(
        key: &CursorKey,
        tenant: &TenantId,
        meta: &EntityMeta,
        order: &Resolved,
        (shape, filter_values): (&[Node], &[Value]),
    ) -> Seal {
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
        let mut mac = key.0.clone();
        mac.update(DOMAIN);
        for part in [tenant.as_str().as_bytes(), meta.table.as_bytes(), &context] {
            mac.update(&len64(part.len()));
            mac.update(part);
        }
        Seal(mac)
    }

    fn mac(&self, payload: &[u8]) -> HmacSha256 {
        let mut mac = self.0.clone();
        mac.update(payload);
        mac
    }
}

impl<E> Cursor<E> {
    /// A cursor carrying `values`, tagged for the seal's tenant, entity, order and filter.
    pub(crate) fn mint(seal: &Seal, values: &[Value]) -> Cursor<E> {
        let mut bytes = Vec::with_capacity(HEADER_LEN + 16 * values.len() + TAG_LEN);
        bytes.push(VERSION);
        put_len16(&mut bytes, values.len());
        for value in values {
            put_value(&mut bytes, value);
        }
        let tag = seal.mac(&bytes).finalize().into_bytes();
        bytes.extend_from_slice(&tag);
        Cursor {
            bytes: bytes.into(),
            entity: PhantomData,
        }
    }

    /// The values, once the tag verifies for the seal's tenant, entity, order and filter and
    /// each value has the type of its column of `order`.
    pub(crate) fn open(
        &self,
        seal: &Seal,
        meta: &EntityMeta,
        order: &Resolved,
    ) -> Result<Vec<Value>, CursorError> {
        // `FromStr` checked the length; a cursor is only built there or by `mint`.
        let split = self.bytes.len().saturating_sub(TAG_LEN);
        let (payload, tag) = self.bytes.split_at(split);
        seal.mac(payload)
            .verify_slice(tag)
            .map_err(|_| CursorError::Invalid)?;
        decode_values(payload, meta, order)
    }
}

fn decode_values(
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

fn len64(len: usize) -> [u8; 8] {
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

impl<E> fmt::Display for Cursor<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&URL_SAFE_NO_PAD.encode(&self.bytes))
    }
}

impl<E> fmt::Debug for Cursor<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Cursor").field(&self.to_string()).finish()
    }
}

/// Checks the text's form only; see [`Cursor`].
impl<E> FromStr for Cursor<E> {
    type Err = CursorError;

    fn from_str(text: &str) -> Result<Self, CursorError> {
        let malformed = |reason| CursorError::Malformed { reason };
        if text.is_empty() {
            return Err(malformed("empty"));
        }
        if text.len() > MAX_TEXT_LEN {
            return Err(malformed("too long"));
        }
        // The engine refuses padding and non-zero trailing bits, so every cursor has exactly
        // one text and no character can change without changing the bytes.
        let bytes = URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| malformed("not base64url"))?;
        if bytes.len() < HEADER_LEN + TAG_LEN {
            return Err(malformed("too short"));
        }
        Ok(Cursor {
            bytes: bytes.into(),
            entity: PhantomData,
        })
    }
}

impl<E> Clone for Cursor<E> {
    fn clone(&self) -> Self {
        Cursor {
            bytes: self.bytes.clone(),
            entity: PhantomData,
        }
    }
}

impl<E> PartialEq for Cursor<E> {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}

impl<E> Eq for Cursor<E> {}

/// As its text.
impl<E> serde::Serialize for Cursor<E> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// From its text, checking its form only (see [`Cursor`]).
impl<'de, E> serde::Deserialize<'de> for Cursor<E> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::meta::{ColumnMeta, ColumnRole};
    use crate::repo::shape::Term;
    use crate::repo::value::ValueKind;

    const META: EntityMeta = EntityMeta {
        table: "invoices",
        columns: &[
            ColumnMeta::of::<i64>("id", ColumnRole::Key, false, false),
            ColumnMeta::of::<TenantId>("tenant_id", ColumnRole::Tenant, false, false),
            ColumnMeta::of::<String>("customer", ColumnRole::Data, false, false),
        ],
        key: 0,
        tenant: 1,
    };

    fn order(dir: Dir) -> Resolved {
        Resolved {
            terms: vec![
                Term { column: 2, dir },
                Term {
                    column: 0,
                    dir: Dir::Asc,
                },
            ],
            kinds: vec![ValueKind::String, ValueKind::BigInt],
        }
    }

    fn key() -> CursorKey {
        CursorKey::from_bytes(&[7; 32]).unwrap()
    }

    fn acme() -> TenantId {
        "acme".parse().unwrap()
    }

    fn values() -> Vec<Value> {
        vec![Value::from("road-runner".to_owned()), Value::from(42i64)]
    }

    const SHAPE: &[Node] = &[Node::Cmp(2, Op::Eq)];

    fn filter_values() -> Vec<Value> {
        vec![Value::from("x".to_owned())]
    }

    fn seal() -> Seal {
        Seal::new(
            &key(),
            &acme(),
            &META,
            &order(Dir::Asc),
            (SHAPE, &filter_values()),
        )
    }

    fn minted() -> Cursor<()> {
        Cursor::mint(&seal(), &values())
    }

    fn open(cursor: &Cursor<()>) -> Result<Vec<Value>, CursorError> {
        cursor.open(&seal(), &META, &order(Dir::Asc))
    }

    #[test]
    fn a_cursor_round_trips_through_its_text_and_serde() {
        let cursor = minted();
        let text = cursor.to_string();
        let parsed: Cursor<()> = text.parse().unwrap();
        assert_eq!(parsed, cursor);
        assert_eq!(open(&parsed).unwrap(), values());
        let json = serde_json::to_string(&cursor).unwrap();
        assert_eq!(json, format!("\"{text}\""));
        let back: Cursor<()> = serde_json::from_str(&json).unwrap();
        assert_eq!(open(&back).unwrap(), values());
        assert!(serde_json::from_str::<Cursor<()>>("\"\"").is_err());
    }

    #[test]
    fn a_cursor_opens_only_in_the_context_it_was_minted_for() {
        let cursor = minted();
        let other_key = CursorKey::from_bytes(&[8; 32]).unwrap();
        let globex: TenantId = "globex".parse().unwrap();
        let fv = filter_values();
        let other_table = EntityMeta {
            table: "payments",
            ..META
        };
        let other_shape = [Node::Cmp(2, Op::Ne)];
        let other_values = [Value::from("y".to_owned())];
        let seals = [
            Seal::new(&other_key, &acme(), &META, &order(Dir::Asc), (SHAPE, &fv)),
            Seal::new(&key(), &globex, &META, &order(Dir::Asc), (SHAPE, &fv)),
            Seal::new(
                &key(),
                &acme(),
                &other_table,
                &order(Dir::Asc),
                (SHAPE, &fv),
            ),
            Seal::new(&key(), &acme(), &META, &order(Dir::Desc), (SHAPE, &fv)),
            Seal::new(&key(), &acme(), &META, &order(Dir::Asc), (&[], &[])),
            Seal::new(
                &key(),
                &acme(),
                &META,
                &order(Dir::Asc),
                (&other_shape, &fv),
            ),
            Seal::new(
                &key(),
                &acme(),
                &META,
                &order(Dir::Asc),
                (SHAPE, &other_values),
            ),
        ];
        let attempts = seals.map(|seal| cursor.open(&seal, &META, &order(Dir::Asc)));
        for attempt in attempts {
            assert_eq!(attempt, Err(CursorError::Invalid));
        }
    }

    #[test]
    fn every_altered_or_truncated_text_is_refused() {
        let text = minted().to_string();
        for i in 0..text.len() {
            for replacement in ['A', 'g', '-', '_'] {
                let mut altered = text.clone().into_bytes();
                if altered[i] == replacement as u8 {
                    continue;
                }
                altered[i] = replacement as u8;
                let altered = String::from_utf8(altered).unwrap();
                let result = altered.parse::<Cursor<()>>().and_then(|c| open(&c));
                assert!(
                    matches!(
                        result,
                        Err(CursorError::Invalid | CursorError::Malformed { .. })
                    ),
                    "{altered}: {result:?}"
                );
            }
        }
        for len in 0..text.len() {
            let result = text[..len].parse::<Cursor<()>>().and_then(|c| open(&c));
            assert!(result.is_err(), "{len}");
        }
        for garbage in ["", "garbage", "a b", &"A".repeat(5000), "////", "=="] {
            assert!(
                matches!(
                    garbage.parse::<Cursor<()>>(),
                    Err(CursorError::Malformed { .. })
                ),
                "{garbage}"
            );
        }
        let long_garbage: Cursor<()> = "A".repeat(60).parse().unwrap();
        assert_eq!(open(&long_garbage), Err(CursorError::Invalid));
    }

    #[test]
    fn values_of_the_wrong_type_are_refused_even_with_a_valid_tag() {
        // What a key holder minting values that do not fit the order would produce.
        let wrong = Cursor::<()>::mint(&seal(), &[Value::from(1i64), Value::from(42i64)]);
        assert_eq!(
            open(&wrong),
            Err(CursorError::ValueType { column: "customer" })
        );
        let short = Cursor::<()>::mint(&seal(), &[Value::from(1i64)]);
        assert!(matches!(open(&short), Err(CursorError::Malformed { .. })));
        let null = Cursor::<()>::mint(&seal(), &[Value::String(None), Value::from(42i64)]);
        assert_eq!(
            open(&null),
            Err(CursorError::ValueType { column: "customer" })
        );
    }

    /// The wire format, pinned: a cursor over a column of every orderable type, minted under a
    /// filter holding a value of every type a filter binds (and a NULL). The tag covers the
    /// context (the order's value types, the filter's values), so this text changes if any
    /// value's encoding does, in the payload or in the MAC input.
    #[cfg(all(feature = "uuid", feature = "chrono", feature = "decimal"))]
    #[test]
    fn the_encoding_of_every_value_type_is_fixed() {
        const NAMES: [&str; 12] = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "id"];
        const COLUMNS: [ColumnMeta; 13] = {
            let mut columns = [ColumnMeta::of::<i64>("id", ColumnRole::Key, false, false); 13];
            let mut i = 0;
            while i < 12 {
                columns[i] = ColumnMeta::of::<i64>(NAMES[i], ColumnRole::Data, false, false);
                i += 1;
            }
            columns[11] = ColumnMeta::of::<i64>("id", ColumnRole::Key, false, false);
            columns[12] = ColumnMeta::of::<TenantId>("tenant_id", ColumnRole::Tenant, false, false);
            columns
        };
        const ALL: EntityMeta = EntityMeta {
            table: "every_type",
            columns: &COLUMNS,
            key: 11,
            tenant: 12,
        };
        let date = time::Date::from_calendar_date(2026, time::Month::December, 3).unwrap();
        let clock = time::Time::from_hms_nano(9, 30, 15, 123_456_789).unwrap();
        let offset = time::UtcOffset::from_hms(2, 0, 0).unwrap();
        let at = time::PrimitiveDateTime::new(date, clock);
        let values = vec![
            Value::from(true),
            Value::from(-2i16),
            Value::from(-3i32),
            Value::from(4i64),
            Value::from(0.5f32),
            Value::from(-0.25f64),
            Value::from("road-runner".to_owned()),
            Value::from(vec![0u8, 1, 255]),
            Value::from(uuid::Uuid::from_bytes([9; 16])),
            Value::from(at.assume_offset(offset)),
            Value::from(at),
            Value::from(date),
        ];
        let kinds = [
            ValueKind::Bool,
            ValueKind::SmallInt,
            ValueKind::Int,
            ValueKind::BigInt,
            ValueKind::Float,
            ValueKind::Double,
            ValueKind::String,
            ValueKind::Bytes,
            ValueKind::Uuid,
            ValueKind::TimeDateTimeWithTimeZone,
            ValueKind::TimeDateTime,
            ValueKind::TimeDate,
        ];
        let order = Resolved {
            terms: (0..12)
                .map(|column| Term {
                    column,
                    dir: if column % 2 == 0 { Dir::Asc } else { Dir::Desc },
                })
                .collect(),
            kinds: kinds.to_vec(),
        };
        let mut filter_values = values.clone();
        filter_values.extend([
            Value::String(None),
            Value::from(chrono::NaiveDate::from_ymd_opt(2026, 12, 3).unwrap()),
            Value::from(rust_decimal::Decimal::new(12345, 2)),
        ]);
        let shape = [
            Node::Cmp(0, Op::Eq),
            Node::In(1, 3),
            Node::IsNull(2),
            Node::And,
            Node::Or,
            Node::Not,
        ];
        let seal = Seal::new(&key(), &acme(), &ALL, &order, (&shape, &filter_values));
        let cursor = Cursor::<()>::mint(&seal, &values);
        assert_eq!(cursor.open(&seal, &ALL, &order).unwrap(), values);
        assert_eq!(
            cursor.to_string(),
            "AQAMAQEBAgH__gMB_____QQBAAAAAAAAAAQFAT8AAAAGAb_QAAAAAAAABwEAAAALcm9hZC1ydW5uZXIIAQAAAAMAAf8JAQkJCQkJCQkJCQkJCQkJCQkKAQAAAAAAAAAAGO2t4piAUxUAABwgCwEAAAAAAAAAABjttG758ZMVDAEAJY7CuST8qQwKxiGlRVLnLjlXqeYOszbx0r-giIhdPrRt5pY"
        );
    }

    #[test]
    fn keys_are_long_enough_and_never_shown() {
        assert_eq!(
            CursorKey::from_bytes(&[1; 31]).unwrap_err(),
            CursorError::KeyTooShort { len: 31 }
        );
        let random = CursorKey::random().unwrap();
        assert_eq!(format!("{random:?}"), "CursorKey(..)");
        assert!(CursorKey::process_default().is_ok());
    }
}
