//! What an entry must be before its tenant is looked up: its fields, its signature, its
//! envelope; and why an entry is dead-lettered.

use std::fmt;

use serde::de::DeserializeOwned;

use tenant_core::TenantId;

use super::{ENVELOPE_FIELD, KEY_ID_FIELD, SIGNATURE_FIELD};

/// What the consumer reads: the envelope as it came, checked field by field.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ReceivedEnvelope<T> {
    pub(super) tenant_id: TenantId,
    #[allow(dead_code)]
    event_id: uuid::Uuid,
    pub(super) occurred_at_ms: u64,
    pub(super) payload: T,
}

/// Why an entry went to the dead-letter stream: the `reason` field there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeadLetterReason {
    /// A signed envelope that is not JSON, has a missing or invalid field, or a payload of another
    /// shape; an entry with no `envelope` field, or with a field other than `envelope`, `kid` and
    /// `sig`; an entry deleted from the stream while pending.
    MalformedEnvelope,
    /// A field (`envelope`, `kid` or `sig`) given more than once: which one counts would be a
    /// guess.
    DuplicateField,
    /// No `kid` or no `sig` field: an unsigned envelope.
    MissingSignature,
    /// The `kid` field names no accepted key.
    UnknownKeyId,
    /// The `sig` field is not base64 of a 32-byte tag, or not the MAC of this envelope, key id
    /// and stream under the named key: forged or altered.
    BadSignature,
    /// The registry does not know the envelope's tenant, and the grace period has run out.
    UnknownTenant,
    /// The envelope's tenant exists but is not active.
    InactiveTenant,
    /// The envelope's tenant is not on this consumer's allow-list
    /// ([`EventConsumer::tenancy`](super::EventConsumer::tenancy)).
    TenantNotAllowed,
    /// The handler was given the event [`max_deliveries`](super::EventConsumer::max_deliveries) times
    /// and never succeeded (or its consumer stopped while handling it).
    TooManyDeliveries,
}

impl DeadLetterReason {
    /// The `reason` field's value: `malformed_envelope`, `duplicate_field`,
    /// `missing_signature`, `unknown_key_id`, `bad_signature`, `unknown_tenant`,
    /// `inactive_tenant`, `tenant_not_allowed`, `too_many_deliveries`.
    ///
    /// ```
    /// use tenant::redis::events::DeadLetterReason;
    ///
    /// assert_eq!(DeadLetterReason::BadSignature.as_str(), "bad_signature");
    /// assert_eq!(DeadLetterReason::TooManyDeliveries.to_string(), "too_many_deliveries");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            DeadLetterReason::MalformedEnvelope => "malformed_envelope",
            DeadLetterReason::DuplicateField => "duplicate_field",
            DeadLetterReason::MissingSignature => "missing_signature",
            DeadLetterReason::UnknownKeyId => "unknown_key_id",
            DeadLetterReason::BadSignature => "bad_signature",
            DeadLetterReason::UnknownTenant => "unknown_tenant",
            DeadLetterReason::InactiveTenant => "inactive_tenant",
            DeadLetterReason::TenantNotAllowed => "tenant_not_allowed",
            DeadLetterReason::TooManyDeliveries => "too_many_deliveries",
        }
    }
}

impl fmt::Display for DeadLetterReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The fields of an entry that the consumer reads, each found exactly once (or not at all).
#[derive(Clone, Copy, Default)]
pub(super) struct Signed<'a> {
    pub(super) envelope: Option<&'a [u8]>,
    pub(super) key_id: Option<&'a [u8]>,
    pub(super) tag: Option<&'a [u8]>,
}

/// The entry's `envelope`, `kid` and `sig`; a field given twice, or any other field, is refused
/// with its dead-letter reason and detail.
pub(super) fn read_fields(
    fields: &[(Vec<u8>, Vec<u8>)],
) -> Result<Signed<'_>, (DeadLetterReason, String)> {
    let mut signed = Signed::default();
    let mut unexpected = None;
    for (name, value) in fields {
        let slot = match name.as_slice() {
            n if n == ENVELOPE_FIELD.as_bytes() => &mut signed.envelope,
            n if n == KEY_ID_FIELD.as_bytes() => &mut signed.key_id,
            n if n == SIGNATURE_FIELD.as_bytes() => &mut signed.tag,
            _ => {
                unexpected.get_or_insert(name);
                continue;
            }
        };
        if slot.replace(value).is_some() {
            let detail = format!("the field {:?} appears more than once", printable(name));
            return Err((DeadLetterReason::DuplicateField, detail));
        }
    }
    if let Some(name) = unexpected {
        let detail = format!("unexpected field {:?}", printable(name));
        return Err((DeadLetterReason::MalformedEnvelope, detail));
    }
    Ok(signed)
}

/// The envelope, which must be a JSON object: serde's derive also accepts a struct as an array of
/// its fields in order, a second wire format that no other implementation of this one expects.
pub(super) fn parse_envelope<T: DeserializeOwned>(
    raw: &[u8],
) -> Result<ReceivedEnvelope<T>, String> {
    match raw.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => serde_json::from_slice(raw).map_err(|error| error.to_string()),
        _ => Err("the envelope is not a JSON object".to_owned()),
    }
}

/// At most 64 bytes of `bytes`, as text, for a detail.
pub(super) fn printable(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(64)]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(list: &[(&str, &str)]) -> Vec<(Vec<u8>, Vec<u8>)> {
        list.iter()
            .map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn fields_are_read_once_each_and_nothing_else() {
        let ok = fields(&[("envelope", "{}"), ("kid", "k"), ("sig", "s")]);
        let signed = read_fields(&ok).unwrap();
        assert_eq!(signed.envelope, Some(&b"{}"[..]));
        assert_eq!(signed.key_id, Some(&b"k"[..]));
        assert_eq!(signed.tag, Some(&b"s"[..]));
        let only_envelope = fields(&[("envelope", "{}")]);
        let partial = read_fields(&only_envelope).unwrap();
        assert_eq!((partial.key_id, partial.tag), (None, None));

        for name in ["envelope", "kid", "sig"] {
            let mut twice = ok.clone();
            twice.push((name.as_bytes().to_vec(), b"again".to_vec()));
            let (reason, detail) = read_fields(&twice).err().unwrap();
            assert_eq!(reason, DeadLetterReason::DuplicateField);
            assert!(detail.contains(name), "{detail}");
        }
        let mut extra = ok.clone();
        extra.insert(0, (b"tenant_id".to_vec(), b"globex".to_vec()));
        let (reason, _) = read_fields(&extra).err().unwrap();
        assert_eq!(reason, DeadLetterReason::MalformedEnvelope);
        // A duplicate wins over an unexpected field; hostile names stay short.
        let mut both = extra.clone();
        both.push((b"sig".to_vec(), b"x".to_vec()));
        assert_eq!(
            read_fields(&both).err().unwrap().0,
            DeadLetterReason::DuplicateField
        );
        let long = vec![(vec![0xff; 10_000], vec![])];
        assert!(read_fields(&long).err().unwrap().1.len() < 300);
    }
}
