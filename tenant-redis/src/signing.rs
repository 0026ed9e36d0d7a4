//! The event envelopes' signatures, with the project's one key ring, [`SigningKeys`] (from
//! `tenant-core`, re-exported here), so events and Temporal claims share one key type and one
//! rotation story. What exactly is signed is in the [wire format](crate::events#wire-format).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use tenant_core::signing::SignatureError;
pub use tenant_core::signing::{MAX_KEY_ID_LEN, MIN_KEY_LEN, SigningKeys, SigningKeysError};

/// What the MAC input starts with, so a tag of this scheme means nothing anywhere else.
const DOMAIN: &[u8] = b"tenant-redis/event/v1\0";

/// Why an envelope's signature was refused (the dead-letter reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VerifyError {
    /// No accepted key has the entry's key id.
    UnknownKeyId,
    /// The tag is not base64, not 32 bytes, or not the envelope's MAC under that key.
    BadSignature,
}

/// Envelope signing with a key ring: the scheme of this crate's streams.
pub(crate) trait EnvelopeSigning {
    /// The current key id and the MAC of `envelope` published to `stream` under that key.
    fn sign(&self, stream: &str, envelope: &[u8]) -> (&str, [u8; 32]);

    /// Checks `tag` (base64) as the MAC of `envelope` read from `stream`, under the accepted key
    /// named `key_id`, in constant time.
    fn verify(
        &self,
        stream: &str,
        key_id: &[u8],
        envelope: &[u8],
        tag: &[u8],
    ) -> Result<(), VerifyError>;
}

impl EnvelopeSigning for SigningKeys {
    fn sign(&self, stream: &str, envelope: &[u8]) -> (&str, [u8; 32]) {
        let key_id = self.current_key_id();
        let (stream_len, key_id_len) = (len_prefix(stream.len()), len_prefix(key_id.len()));
        let tag = self.sign_parts(&[
            DOMAIN,
            &stream_len,
            stream.as_bytes(),
            &key_id_len,
            key_id.as_bytes(),
            envelope,
        ]);
        (key_id, tag)
    }

    fn verify(
        &self,
        stream: &str,
        key_id: &[u8],
        envelope: &[u8],
        tag: &[u8],
    ) -> Result<(), VerifyError> {
        let key_id_text = std::str::from_utf8(key_id).map_err(|_| VerifyError::UnknownKeyId)?;
        // A tag that is not base64 is checked as an empty one, which no MAC equals: the key id
        // is still looked up first, so an unknown key id is reported as such whatever the tag.
        let tag = STANDARD.decode(tag).unwrap_or_default();
        let (stream_len, key_id_len) = (len_prefix(stream.len()), len_prefix(key_id.len()));
        let input = [
            DOMAIN,
            &stream_len,
            stream.as_bytes(),
            &key_id_len,
            key_id,
            envelope,
        ];
        self.verify_parts(key_id_text, &input, &tag)
            .map_err(|error| match error {
                SignatureError::UnknownKeyId => VerifyError::UnknownKeyId,
                _ => VerifyError::BadSignature,
            })
    }
}

/// The base64 text of a tag, as the `sig` field carries it.
pub(crate) fn encode_tag(tag: &[u8]) -> String {
    STANDARD.encode(tag)
}

/// The MAC input is the domain, then the stream and the key id, each behind its length as a
/// big-endian `u64` (this), then the envelope's bytes exactly as stored.
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
        // The key id is looked up before the tag is decoded: an unknown key id with a tag that
        // is not base64 is an unknown key id (the dead letter's reason), as before the key ring
        // moved to tenant-core (found by the stream fuzz test).
        assert_eq!(
            keys.verify("s", b"kid3", b"envelope", b"not base64\xef"),
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
