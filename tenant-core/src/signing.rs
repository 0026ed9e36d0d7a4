//! [`SigningKeys`]: the project's one key ring. HMAC-SHA256 keys that sign and verify by key id,
//! so keys rotate without a flag day: `tenant-redis` signs event envelopes with it, and
//! [`SignedClaim`](crate::SignedClaim) and [`SystemToken`](crate::SystemToken) are signed with it.
//! Each scheme starts its MAC input with a domain string of its own, so a tag of one scheme
//! means nothing in another; still, give each scheme its own keys (see
//! [`SignedClaim`](crate::SignedClaim#keys)).

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

/// A key ring: one current key, identified by its key id, that signs, and the set of keys (the
/// current one included) whose signatures are accepted, looked up by the key id the signed
/// value names. An event stream, a claim-signing request boundary and a worker each hold one.
///
/// Rotation: add the new key as accepted everywhere (`kid1:..,kid2:..`), then make it current
/// (`kid2:..,kid1:..`), then, once nothing signed with the old key is left unread or unexpired,
/// drop the old one (`kid2:..`).
///
/// Only keyed MAC states are kept, not the raw key bytes, and they are wiped from memory when
/// dropped. `Debug` shows the key ids, never a key.
///
/// ```
/// use tenant::SigningKeys;
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
/// # Ok::<(), tenant::SigningKeysError>(())
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

/// Why a signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// No accepted key has the key id the signed value names.
    #[error("signed with an unknown key id")]
    UnknownKeyId,
    /// The tag is not the MAC of the signed value under the key its key id names.
    #[error("the signature does not verify")]
    BadSignature,
}

impl SigningKeys {
    /// Keys with one key, `key_id`, which signs and is accepted.
    ///
    /// ```
    /// use tenant::{SigningKeys, SigningKeysError};
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
    /// use tenant::{SigningKeys, SigningKeysError};
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
    /// use tenant::{SigningKeys, SigningKeysError};
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

    /// The MAC, under the current key, of `parts` concatenated: the building block of each
    /// signing scheme, which starts `parts` with its own domain string and frames its fields so
    /// that no two messages share an input. [`current_key_id`](Self::current_key_id) says which
    /// key signed.
    ///
    /// ```
    /// use tenant::SigningKeys;
    ///
    /// let keys = SigningKeys::new("kid1", &[7; 32])?;
    /// let tag = keys.sign_parts(&[b"my-scheme/v1\0", b"message"]);
    /// assert_eq!(keys.verify_parts("kid1", &[b"my-scheme/v1\0message"], &tag), Ok(()));
    /// # Ok::<(), tenant::SigningKeysError>(())
    /// ```
    pub fn sign_parts(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = self.keys[&self.current].clone();
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    /// Checks `tag` as the MAC of `parts` concatenated under the accepted key named `key_id`,
    /// in constant time: an unknown key id is [`SignatureError::UnknownKeyId`], any other
    /// mismatch (a tag of the wrong length included) [`SignatureError::BadSignature`].
    ///
    /// ```
    /// use tenant::{SignatureError, SigningKeys};
    ///
    /// let keys = SigningKeys::new("kid1", &[7; 32])?;
    /// let tag = keys.sign_parts(&[b"message"]);
    /// assert_eq!(keys.verify_parts("kid1", &[b"message"], &tag), Ok(()));
    /// assert_eq!(keys.verify_parts("kid1", &[b"messagE"], &tag), Err(SignatureError::BadSignature));
    /// assert_eq!(keys.verify_parts("kid2", &[b"message"], &tag), Err(SignatureError::UnknownKeyId));
    /// # Ok::<(), tenant::SigningKeysError>(())
    /// ```
    pub fn verify_parts(
        &self,
        key_id: &str,
        parts: &[&[u8]],
        tag: &[u8],
    ) -> Result<(), SignatureError> {
        let mut mac = self
            .keys
            .get(key_id)
            .ok_or(SignatureError::UnknownKeyId)?
            .clone();
        for part in parts {
            mac.update(part);
        }
        // `verify_slice` compares in constant time.
        mac.verify_slice(tag)
            .map_err(|_| SignatureError::BadSignature)
    }
}

impl FromStr for SigningKeys {
    type Err = SigningKeysError;

    /// See [`SigningKeys::parse`].
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        SigningKeys::parse(text)
    }
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

/// `len` as the big-endian `u64` that frames a field in a MAC input.
pub(crate) fn len_prefix(len: usize) -> [u8; 8] {
    u64::try_from(len).unwrap_or(u64::MAX).to_be_bytes()
}
