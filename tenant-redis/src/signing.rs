//! [`SigningKeys`]: the HMAC-SHA256 keys that sign event envelopes and verify them, by key id, so
//! keys rotate without a flag day. What exactly is signed is in the
//! [wire format](crate::events#wire-format).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

type HmacSha256 = Hmac<Sha256>;

/// The shortest key accepted, in bytes: HMAC-SHA256's output size (RFC 2104 advises against
/// shorter keys).
pub const MIN_KEY_LEN: usize = 32;

/// The longest key id, in bytes.
pub const MAX_KEY_ID_LEN: usize = 64;

/// What the MAC input starts with, so a tag of this scheme means nothing anywhere else.
const DOMAIN: &[u8] = b"tenant-redis/event/v1\0";

/// The keys of an [`EventStream`](crate::EventStream): one current key, identified by its key id,
/// that signs every published envelope, and the set of keys (the current one included) whose
/// signatures a consumer accepts, looked up by the key id the entry names.
///
/// Rotation: add the new key as accepted everywhere (`kid1:..,kid2:..`), then make it current
/// (`kid2:..,kid1:..`), then, once no entry signed with the old key is left unread, drop the old
/// one (`kid2:..`).
///
/// Only keyed MAC states are kept, not the raw key bytes, and they are wiped from memory when
/// dropped. `Debug` shows the key ids, never a key.
///
/// ```
/// use tenant::redis::SigningKeys;
///
/// // Usually from configuration: `openssl rand -base64 32` for each key.
/// let keys: SigningKeys = "kid2:CHVy3WLS7Q2X4MTqpt0wM8KN9SCtiAT2Oly1I8umyJI=,\
///                          kid1:tlL9C3QBIVlBWxotkSiN2fBkFH9h2Y3eQ+jLNdhOimU="
///     .parse()?;
/// assert_eq!(keys.current_key_id(), "kid2");
/// assert_eq!(keys.key_ids().collect::<Vec<_>>(), ["kid1", "kid2"]);
/// assert_eq!(format!("{keys:?}"), r#"SigningKeys { current: "kid2", accepted: ["kid1", "kid2"] }"#);
///
/// // Or from bytes a secret store handed over.
/// let keys = SigningKeys::new("kid2", &[7; 32])?.with_accepted_key("kid1", &[9; 32])?;
/// assert_eq!(keys.current_key_id(), "kid2");
/// # Ok::<(), tenant::redis::SigningKeysError>(())
/// ```
#[derive(Clone)]
pub struct SigningKeys {
    current: String,
    /// Key id -> the MAC keyed with that key, cloned for each envelope.
    keys: BTreeMap<String, HmacSha256>,
}

impl fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKeys")
            .field("current", &self.current)
            .field("accepted", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Why signing keys were refused. Errors name the key id or the entry's position, never the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SigningKeysError {
    /// The configuration text held no key.
    #[error("no signing key: expected `key_id:base64_key`, comma-separated, the signing key first")]
    Empty,
    /// An entry of the configuration text (1-based) was empty or had no `:`.
    #[error("signing key entry {entry}: expected `key_id:base64_key`")]
    MalformedEntry {
        /// The entry's position, from 1.
        entry: usize,
    },
    /// A key id (of the entry at this 1-based position) was not 1 to [`MAX_KEY_ID_LEN`] ASCII
    /// letters, digits, `_`, `-` or `.`.
    #[error(
        "signing key entry {entry}: a key id is 1 to 64 ASCII letters, digits, '_', '-' or '.'"
    )]
    InvalidKeyId {
        /// The entry's position, from 1.
        entry: usize,
    },
    /// A key was not standard, padded base64.
    #[error("signing key {key_id:?}: not standard (padded) base64")]
    InvalidBase64 {
        /// The key's id.
        key_id: String,
    },
    /// A key was shorter than [`MIN_KEY_LEN`] bytes.
    #[error("signing key {key_id:?}: {len} bytes, at least 32 needed")]
    KeyTooShort {
        /// The key's id.
        key_id: String,
        /// The key's length in bytes.
        len: usize,
    },
    /// Two keys had the same id.
    #[error("signing key id {key_id:?} given twice")]
    DuplicateKeyId {
        /// The repeated id.
        key_id: String,
    },
}

/// Why an envelope's signature was refused (the dead-letter reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VerifyError {
    /// No accepted key has the entry's key id.
    UnknownKeyId,
    /// The tag is not base64, not 32 bytes, or not the envelope's MAC under that key.
    BadSignature,
}

impl SigningKeys {
    /// Keys with one key, `key_id`, which signs and is accepted.
    ///
    /// ```
    /// use tenant::redis::{SigningKeys, SigningKeysError};
    ///
    /// assert!(SigningKeys::new("kid1", &[7; 32]).is_ok());
    /// assert!(matches!(
    ///     SigningKeys::new("kid1", b"short"),
    ///     Err(SigningKeysError::KeyTooShort { len: 5, .. })
    /// ));
    /// assert!(matches!(
    ///     SigningKeys::new("kid:1", &[7; 32]),
    ///     Err(SigningKeysError::InvalidKeyId { entry: 1 })
    /// ));
    /// ```
    pub fn new(key_id: &str, key: &[u8]) -> Result<Self, SigningKeysError> {
        let mac = keyed(1, key_id, key)?;
        Ok(SigningKeys {
            current: key_id.to_owned(),
            keys: BTreeMap::from([(key_id.to_owned(), mac)]),
        })
    }

    /// The same keys, also accepting signatures by `key` under `key_id` (an older key still
    /// signing entries not yet read, or the next key before it becomes current).
    ///
    /// ```
    /// use tenant::redis::{SigningKeys, SigningKeysError};
    ///
    /// let keys = SigningKeys::new("kid2", &[7; 32])?.with_accepted_key("kid1", &[9; 32])?;
    /// assert_eq!(keys.key_ids().collect::<Vec<_>>(), ["kid1", "kid2"]);
    /// assert!(matches!(
    ///     keys.with_accepted_key("kid2", &[8; 32]),
    ///     Err(SigningKeysError::DuplicateKeyId { .. })
    /// ));
    /// # Ok::<(), SigningKeysError>(())
    /// ```
    pub fn with_accepted_key(mut self, key_id: &str, key: &[u8]) -> Result<Self, SigningKeysError> {
        let entry = self.keys.len() + 1;
        let mac = keyed(entry, key_id, key)?;
        if self.keys.contains_key(key_id) {
            return Err(SigningKeysError::DuplicateKeyId {
                key_id: key_id.to_owned(),
            });
        }
        self.keys.insert(key_id.to_owned(), mac);
        Ok(self)
    }

    /// Parses `key_id:base64_key` entries separated by commas (whitespace around an entry is
    /// ignored): the first entry is the current key, every entry is accepted. Keys are standard,
    /// padded base64 (what `openssl rand -base64 32` prints) of at least [`MIN_KEY_LEN`] bytes;
    /// key ids are 1 to [`MAX_KEY_ID_LEN`] ASCII letters, digits, `_`, `-` or `.`, each given
    /// once. The same as [`str::parse`].
    ///
    /// ```
    /// use tenant::redis::{SigningKeys, SigningKeysError};
    ///
    /// let keys = SigningKeys::parse(" kid1:tlL9C3QBIVlBWxotkSiN2fBkFH9h2Y3eQ+jLNdhOimU=\n")?;
    /// assert_eq!(keys.current_key_id(), "kid1");
    ///
    /// assert_eq!(SigningKeys::parse("").unwrap_err(), SigningKeysError::Empty);
    /// assert_eq!(
    ///     SigningKeys::parse("tlL9C3QBIVlBWxotkSiN2fBkFH9h2Y3eQ+jLNdhOimU=").unwrap_err(),
    ///     SigningKeysError::MalformedEntry { entry: 1 }
    /// );
    /// assert!(matches!(
    ///     SigningKeys::parse("kid1:not base64!"),
    ///     Err(SigningKeysError::InvalidBase64 { .. })
    /// ));
    /// // The error names the entry or the key id, never the key.
    /// let error = SigningKeys::parse("kid1:c2hvcnQ=").unwrap_err();
    /// assert_eq!(error.to_string(), r#"signing key "kid1": 5 bytes, at least 32 needed"#);
    /// # Ok::<(), SigningKeysError>(())
    /// ```
    pub fn parse(text: &str) -> Result<Self, SigningKeysError> {
        if text.trim().is_empty() {
            return Err(SigningKeysError::Empty);
        }
        let mut keys: Option<SigningKeys> = None;
        for (index, entry) in text.split(',').enumerate() {
            let position = index + 1;
            let (key_id, encoded) = entry
                .trim()
                .split_once(':')
                .ok_or(SigningKeysError::MalformedEntry { entry: position })?;
            check_key_id(position, key_id)?;
            let key = Zeroizing::new(STANDARD.decode(encoded).map_err(|_| {
                SigningKeysError::InvalidBase64 {
                    key_id: key_id.to_owned(),
                }
            })?);
            keys = Some(match keys {
                None => SigningKeys::new(key_id, &key)?,
                Some(keys) => keys.with_accepted_key(key_id, &key)?,
            });
        }
        keys.ok_or(SigningKeysError::Empty)
    }

    /// The id of the key that signs.
    pub fn current_key_id(&self) -> &str {
        &self.current
    }

    /// The ids of the accepted keys (the current one included), sorted.
    pub fn key_ids(&self) -> impl Iterator<Item = &str> + '_ {
        self.keys.keys().map(String::as_str)
    }

    /// The current key id and the MAC of `envelope` published to `stream` under that key.
    pub(crate) fn sign(&self, stream: &str, envelope: &[u8]) -> (&str, [u8; 32]) {
        let mut mac = self.keys[&self.current].clone();
        feed(&mut mac, stream, self.current.as_bytes(), envelope);
        (&self.current, mac.finalize().into_bytes().into())
    }

    /// Checks `tag` (base64) as the MAC of `envelope` read from `stream`, under the accepted key
    /// named `key_id`, in constant time.
    pub(crate) fn verify(
        &self,
        stream: &str,
        key_id: &[u8],
        envelope: &[u8],
        tag: &[u8],
    ) -> Result<(), VerifyError> {
        let mac = std::str::from_utf8(key_id)
            .ok()
            .and_then(|key_id| self.keys.get(key_id))
            .ok_or(VerifyError::UnknownKeyId)?;
        let tag = STANDARD
            .decode(tag)
            .map_err(|_| VerifyError::BadSignature)?;
        let mut mac = mac.clone();
        feed(&mut mac, stream, key_id, envelope);
        mac.verify_slice(&tag)
            .map_err(|_| VerifyError::BadSignature)
    }
}

impl FromStr for SigningKeys {
    type Err = SigningKeysError;

    /// See [`SigningKeys::parse`].
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        SigningKeys::parse(text)
    }
}

/// The base64 text of a tag, as the `sig` field carries it.
pub(crate) fn encode_tag(tag: &[u8]) -> String {
    STANDARD.encode(tag)
}

fn check_key_id(entry: usize, key_id: &str) -> Result<(), SigningKeysError> {
    let valid = !key_id.is_empty()
        && key_id.len() <= MAX_KEY_ID_LEN
        && key_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if valid {
        Ok(())
    } else {
        Err(SigningKeysError::InvalidKeyId { entry })
    }
}

fn keyed(entry: usize, key_id: &str, key: &[u8]) -> Result<HmacSha256, SigningKeysError> {
    check_key_id(entry, key_id)?;
    if key.len() < MIN_KEY_LEN {
        return Err(SigningKeysError::KeyTooShort {
            key_id: key_id.to_owned(),
            len: key.len(),
        });
    }
    // HMAC takes keys of any length: this cannot fail.
    HmacSha256::new_from_slice(key).map_err(|_| SigningKeysError::KeyTooShort {
        key_id: key_id.to_owned(),
        len: key.len(),
    })
}

/// The MAC input: the domain, then the stream and the key id, each behind its length as a
/// big-endian `u64`, then the envelope's bytes exactly as stored.
fn feed(mac: &mut HmacSha256, stream: &str, key_id: &[u8], envelope: &[u8]) {
    mac.update(DOMAIN);
    mac.update(&len_prefix(stream.len()));
    mac.update(stream.as_bytes());
    mac.update(&len_prefix(key_id.len()));
    mac.update(key_id);
    mac.update(envelope);
}

fn len_prefix(len: usize) -> [u8; 8] {
    u64::try_from(len).unwrap_or(u64::MAX).to_be_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY1: &str = "tlL9C3QBIVlBWxotkSiN2fBkFH9h2Y3eQ+jLNdhOimU=";
    const KEY2: &str = "CHVy3WLS7Q2X4MTqpt0wM8KN9SCtiAT2Oly1I8umyJI=";

    /// A vector computed outside Rust, pinning the MAC input layout, with Python's `hmac`:
    /// `hmac.new(key, b"tenant-redis/event/v1\0" + (8).to_bytes(8, "big") + b"invoices"
    /// + (4).to_bytes(8, "big") + b"kid1" + envelope, hashlib.sha256)`.
    #[test]
    fn signature_matches_an_independent_vector() {
        let keys = SigningKeys::parse(&format!("kid1:{KEY1}")).unwrap();
        let envelope = br#"{"tenant_id":"acme","event_id":"6f1d0a7e-8c3b-4e0f-9a41-2b7c5d9e8f10","occurred_at_ms":1764100000000,"payload":{"invoice":7}}"#;
        let (kid, tag) = keys.sign("invoices", envelope);
        assert_eq!(kid, "kid1");
        assert_eq!(encode_tag(&tag), VECTOR);
        assert_eq!(
            keys.verify("invoices", b"kid1", envelope, VECTOR.as_bytes()),
            Ok(())
        );
    }

    const VECTOR: &str = "sZf59an5jYbWXaNUDLBxi6ubkGnaGx4uWATGG0lIpxc=";

    #[test]
    fn verification_refuses_every_change() {
        let keys = SigningKeys::parse(&format!("kid2:{KEY2},kid1:{KEY1}")).unwrap();
        let (kid, tag) = keys.sign("s", b"envelope");
        let tag = encode_tag(&tag);
        assert_eq!(kid, "kid2");
        assert_eq!(
            keys.verify("s", b"kid2", b"envelope", tag.as_bytes()),
            Ok(())
        );
        let bad = Err(VerifyError::BadSignature);
        assert_eq!(keys.verify("s", b"kid2", b"envelopE", tag.as_bytes()), bad);
        assert_eq!(keys.verify("t", b"kid2", b"envelope", tag.as_bytes()), bad);
        // Another accepted key id: a different key, and the key id is signed too.
        assert_eq!(keys.verify("s", b"kid1", b"envelope", tag.as_bytes()), bad);
        assert_eq!(
            keys.verify("s", b"kid2", b"envelope", &tag.as_bytes()[1..]),
            bad
        );
        assert_eq!(keys.verify("s", b"kid2", b"envelope", b"not base64!"), bad);
        assert_eq!(keys.verify("s", b"kid2", b"envelope", b""), bad);
        let short = encode_tag(&STANDARD.decode(&tag).unwrap()[..16]);
        assert_eq!(
            keys.verify("s", b"kid2", b"envelope", short.as_bytes()),
            bad
        );
        let unknown = Err(VerifyError::UnknownKeyId);
        assert_eq!(
            keys.verify("s", b"kid3", b"envelope", tag.as_bytes()),
            unknown
        );
        assert_eq!(keys.verify("s", b"", b"envelope", tag.as_bytes()), unknown);
        assert_eq!(
            keys.verify("s", b"\xff", b"envelope", tag.as_bytes()),
            unknown
        );
        // Length prefixes: moving bytes between the stream and the key id changes the input.
        let (_, a) = SigningKeys::new("ab", &[1; 32]).unwrap().sign("s", b"x");
        let (_, b) = SigningKeys::new("b", &[1; 32]).unwrap().sign("sa", b"x");
        assert_ne!(a, b);
    }

    #[test]
    fn configuration_errors_are_typed_and_never_show_a_key() {
        use SigningKeysError as E;
        let cases: Vec<(String, E)> = vec![
            (" \n".into(), E::Empty),
            (KEY1.into(), E::MalformedEntry { entry: 1 }),
            (format!("kid1:{KEY1},"), E::MalformedEntry { entry: 2 }),
            (
                format!("kid1:{KEY1},,kid2:{KEY2}"),
                E::MalformedEntry { entry: 2 },
            ),
            (format!(":{KEY1}"), E::InvalidKeyId { entry: 1 }),
            (
                format!("kid1:{KEY1},k d:{KEY2}"),
                E::InvalidKeyId { entry: 2 },
            ),
            (
                format!("{}:{KEY1}", "k".repeat(65)),
                E::InvalidKeyId { entry: 1 },
            ),
            (
                format!("kid1:{}", KEY1.trim_end_matches('=')),
                E::InvalidBase64 {
                    key_id: "kid1".into(),
                },
            ),
            (
                format!("kid1:{}", KEY1.replace('+', "-")),
                E::InvalidBase64 {
                    key_id: "kid1".into(),
                },
            ),
            (
                "kid1:AAAA".into(),
                E::KeyTooShort {
                    key_id: "kid1".into(),
                    len: 3,
                },
            ),
            (
                format!("kid1:{KEY1},kid1:{KEY2}"),
                E::DuplicateKeyId {
                    key_id: "kid1".into(),
                },
            ),
        ];
        for (text, want) in cases {
            let error = SigningKeys::parse(&text).unwrap_err();
            assert_eq!(error, want, "{text:?}");
            let shown = format!("{error} {error:?}");
            for key in [KEY1, KEY2, &KEY1[..12], &KEY2[..12]] {
                assert!(!shown.contains(key), "{shown}");
            }
        }
        let keys: SigningKeys = format!(" kid2:{KEY2} ,\tkid1:{KEY1}\n").parse().unwrap();
        assert_eq!(keys.current_key_id(), "kid2");
        assert_eq!(keys.key_ids().collect::<Vec<_>>(), ["kid1", "kid2"]);
        let shown = format!("{keys:?} {:?}", keys.clone());
        for key in [KEY1, KEY2, &KEY1[..12], &KEY2[..12]] {
            assert!(!shown.contains(key), "{shown}");
        }
        assert!(shown.contains("kid1") && shown.contains("kid2"));
    }
}
