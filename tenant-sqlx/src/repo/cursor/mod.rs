//! Page cursors: the last row's ordering values, tagged with HMAC-SHA256 over everything that
//! gives them a meaning (tenant, table, order, filter), so a client can hand a cursor back but
//! cannot forge, alter or move one.
//!
//! Text: base64url without padding of `payload || tag`.
//! `payload = version (1) || count (u16 BE) || value*`, each value `type tag (u8) || bytes`.
//! `tag = HMAC-SHA256(key, DOMAIN || lp(tenant id) || lp(table) || lp(context) || payload)`, where
//! `lp(x)` is `x` behind its length as a big-endian `u64` and the context encodes the order
//! (each column's name, direction and type) and the filter (its nodes and its values).

//!
//! The bytes are written and read in [`codec`]; this module keys, tags and checks them, and
//! carries them as text.

mod codec;
mod error;
#[cfg(test)]
mod tests;

use std::fmt;
use std::marker::PhantomData;
use std::str::FromStr;
use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use hmac::{Hmac, KeyInit, Mac};
use sea_query::Value;
use sha2::Sha256;

use super::meta::EntityMeta;
use super::order::Resolved;
use super::shape::Node;
pub use error::CursorError;
use error::MIN_KEY_LEN;
use tenant_core::TenantId;

type HmacSha256 = Hmac<Sha256>;

/// The key that tags page cursors (HMAC-SHA256), so that a cursor comes back only to the
/// repository, tenant, order and filter it was minted for.
///
/// Give every replica of a service the same key, so a cursor minted by one is accepted by the
/// others and after a restart. Once per process: set [`CURSOR_KEY_ENV`] (`TENANT_CURSOR_KEY`,
/// at least 32 bytes in base64) or call [`install`](Self::install) at startup, and every
/// repository uses it; [`Repo::with_cursor_key`](crate::Repo::with_cursor_key) overrides it for
/// one repository. Log [`id`](Self::id) at startup: replicas that print different ids disagree.
/// With neither, the process makes a random key when a page is first read, and logs a warning
/// on `tenant::audit`: its cursors stop verifying when the process exits and are refused by
/// other processes. A variable that is set but malformed is an error of every page call
/// ([`CursorError::KeyNotBase64`], [`CursorError::KeyTooShort`]), never a random key.
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

/// The environment variable holding the process-wide cursor key: at least
/// [`CursorKey::MIN_LEN`] bytes, base64 (`openssl rand -base64 32`).
pub const CURSOR_KEY_ENV: &str = "TENANT_CURSOR_KEY";

/// The key of repositories that were given none, once set.
static PROCESS_KEY: OnceLock<CursorKey> = OnceLock::new();

impl CursorKey {
    /// The shortest key accepted, in bytes: HMAC-SHA256's output size.
    pub const MIN_LEN: usize = MIN_KEY_LEN;

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

    /// A key from base64 text (standard or URL-safe alphabet, padded or not, surrounding
    /// whitespace ignored), at least [`MIN_LEN`](Self::MIN_LEN) bytes once decoded. `var` names
    /// where the text came from, for the error.
    fn from_base64(text: &str, var: &'static str) -> Result<CursorKey, CursorError> {
        let text = text.trim();
        let bytes = [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD]
            .iter()
            .find_map(|engine| engine.decode(text).ok())
            .map(zeroize::Zeroizing::new)
            .ok_or(CursorError::KeyNotBase64 { var })?;
        Self::from_bytes(&bytes)
    }

    /// A short fingerprint of the key (16 hex digits of an HMAC under it), safe to log: two
    /// processes whose ids differ cannot read each other's cursors.
    ///
    /// ```
    /// use tenant::sqlx::CursorKey;
    ///
    /// let a = CursorKey::from_bytes(&[7; 32])?;
    /// assert_eq!(a.id(), CursorKey::from_bytes(&[7; 32])?.id());
    /// assert_ne!(a.id(), CursorKey::from_bytes(&[8; 32])?.id());
    /// assert_eq!(a.id().len(), 16);
    /// # Ok::<(), tenant::sqlx::CursorError>(())
    /// ```
    pub fn id(&self) -> String {
        let mut mac = self.0.clone();
        mac.update(b"tenant cursor key id v1");
        let tag = mac.finalize().into_bytes();
        tag[..8].iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Makes this the key of every repository not given one, for the rest of the process, and
    /// returns it. Call it at startup, before any page is read: once the process signs cursors
    /// with a key (installed, from [`CURSOR_KEY_ENV`], or the random default), installing
    /// another is [`CursorError::KeyAlreadyInstalled`]; installing the same key again is fine.
    ///
    /// ```
    /// use tenant::sqlx::{CursorError, CursorKey};
    ///
    /// // Usually decoded from a secret store.
    /// let installed = CursorKey::from_bytes(&[7; 32])?.install()?;
    /// println!("page cursor key id {}", installed.id()); // compare across replicas
    /// assert!(CursorKey::from_bytes(&[7; 32])?.install().is_ok());
    /// assert!(matches!(
    ///     CursorKey::from_bytes(&[8; 32])?.install(),
    ///     Err(CursorError::KeyAlreadyInstalled { .. })
    /// ));
    /// # Ok::<(), CursorError>(())
    /// ```
    pub fn install(self) -> Result<&'static CursorKey, CursorError> {
        let id = self.id();
        let installed = PROCESS_KEY.get_or_init(|| self);
        if installed.id() == id {
            Ok(installed)
        } else {
            Err(CursorError::KeyAlreadyInstalled {
                installed: installed.id(),
            })
        }
    }

    /// The key of repositories that were given none: the installed one, else the one in
    /// [`CURSOR_KEY_ENV`], else a random one made once per process (with a warning).
    pub(crate) fn process_default() -> Result<&'static CursorKey, CursorError> {
        if let Some(key) = PROCESS_KEY.get() {
            return Ok(key);
        }
        let key = Self::from_lookup(|var| std::env::var_os(var))?;
        Ok(PROCESS_KEY.get_or_init(|| key))
    }

    /// The process default as [`process_default`](Self::process_default) makes it, reading the
    /// environment through `lookup`.
    fn from_lookup(
        lookup: impl Fn(&str) -> Option<std::ffi::OsString>,
    ) -> Result<CursorKey, CursorError> {
        match lookup(CURSOR_KEY_ENV) {
            Some(text) => {
                let text = text.into_string().map_err(|_| CursorError::KeyNotBase64 {
                    var: CURSOR_KEY_ENV,
                })?;
                Self::from_base64(&text, CURSOR_KEY_ENV)
            }
            None => {
                tracing::warn!(
                    target: "tenant::audit",
                    "page cursors are signed with a random per-process key: they fail on other \
                     replicas and after a restart; set {CURSOR_KEY_ENV} or call CursorKey::install"
                );
                CursorKey::random()
            }
        }
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
        filter: (&[Node], &[Value]),
    ) -> Seal {
        let context = codec::context(meta, order, filter);
        let mut mac = key.0.clone();
        mac.update(codec::DOMAIN);
        for part in [tenant.as_str().as_bytes(), meta.table.as_bytes(), &context] {
            mac.update(&codec::len64(part.len()));
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
        let mut bytes = codec::payload(values);
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
        let split = self.bytes.len().saturating_sub(codec::TAG_LEN);
        let (payload, tag) = self.bytes.split_at(split);
        seal.mac(payload)
            .verify_slice(tag)
            .map_err(|_| CursorError::Invalid)?;
        codec::decode_values(payload, meta, order)
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
        if text.len() > codec::MAX_TEXT_LEN {
            return Err(malformed("too long"));
        }
        // The engine refuses padding and non-zero trailing bits, so every cursor has exactly
        // one text and no character can change without changing the bytes.
        let bytes = URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| malformed("not base64url"))?;
        if bytes.len() < codec::HEADER_LEN + codec::TAG_LEN {
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
