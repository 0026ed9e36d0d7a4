//! What an entry must be before its tenant is looked up — its fields, its signature, its
//! envelope — decided from the entry and the keys alone; and why an entry is dead-lettered.

use std::fmt;

use serde::de::DeserializeOwned;

use tenant_core::TenantId;

use crate::signing::{EnvelopeSigning as _, SigningKeys, VerifyError};

use super::{ENVELOPE_FIELD, KEY_ID_FIELD, SIGNATURE_FIELD};

/// What the consumer reads: the envelope as it came, checked field by field.
#[derive(Debug, serde::Deserialize)]
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
    /// The handler was given the event
    /// [`max_deliveries`](super::EventConsumer::max_deliveries) times and never succeeded (or its
    /// consumer stopped while handling it).
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

/// Why an entry is refused: what its dead letter says.
#[derive(Debug)]
pub(super) struct Rejected {
    pub(super) reason: DeadLetterReason,
    /// What was wrong, in words; it may quote the entry.
    pub(super) detail: String,
    /// The envelope's tenant, when the envelope was read: logged, never trusted.
    pub(super) claimed_tenant: Option<TenantId>,
}

impl Rejected {
    pub(super) fn new(reason: DeadLetterReason, detail: impl Into<String>) -> Self {
        Rejected {
            reason,
            detail: detail.into(),
            claimed_tenant: None,
        }
    }

    /// The same rejection of an envelope that names `tenant`.
    pub(super) fn claiming(mut self, tenant: &TenantId) -> Self {
        self.claimed_tenant = Some(tenant.clone());
        self
    }
}

/// Checks 1 to 3 of the [delivery](super#delivery), the ones that need nothing but the entry and
/// the stream's keys: the fields, then the signature, then the envelope. Nothing of an entry whose
/// signature fails is parsed. `fields` is `None` for an entry deleted from the stream while
/// pending.
pub(super) fn check_entry<T: DeserializeOwned>(
    keys: &SigningKeys,
    stream: &str,
    fields: Option<&[(Vec<u8>, Vec<u8>)]>,
) -> Result<ReceivedEnvelope<T>, Rejected> {
    use DeadLetterReason as Reason;

    let Some(fields) = fields else {
        let detail = "the entry was deleted while pending";
        return Err(Rejected::new(Reason::MalformedEnvelope, detail));
    };
    // 1. The fields.
    let signed = read_fields(fields)?;
    let Some(raw) = signed.envelope else {
        return Err(Rejected::new(
            Reason::MalformedEnvelope,
            "no envelope field",
        ));
    };
    // 2. The signature, before anything of the envelope is read.
    let (Some(key_id), Some(tag)) = (signed.key_id, signed.tag) else {
        return Err(Rejected::new(
            Reason::MissingSignature,
            "no kid or no sig field",
        ));
    };
    keys.verify(stream, key_id, raw, tag)
        .map_err(|error| match error {
            VerifyError::UnknownKeyId => Rejected::new(
                Reason::UnknownKeyId,
                format!("no accepted key has the id {:?}", printable(key_id)),
            ),
            VerifyError::BadSignature => Rejected::new(
                Reason::BadSignature,
                "the signature is not this envelope's under the named key",
            ),
        })?;
    // 3. The envelope.
    parse_envelope(raw).map_err(|detail| Rejected::new(Reason::MalformedEnvelope, detail))
}

/// The fields of an entry that the consumer reads, each found exactly once (or not at all).
#[derive(Clone, Copy, Default)]
pub(super) struct Signed<'a> {
    pub(super) envelope: Option<&'a [u8]>,
    pub(super) key_id: Option<&'a [u8]>,
    pub(super) tag: Option<&'a [u8]>,
}

/// The entry's `envelope`, `kid` and `sig`; a field given twice, or any other field, is refused.
/// What a dead letter copies of its entry: nothing of an entry refused here.
pub(super) fn read_fields(fields: &[(Vec<u8>, Vec<u8>)]) -> Result<Signed<'_>, Rejected> {
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
            return Err(Rejected::new(DeadLetterReason::DuplicateField, detail));
        }
    }
    if let Some(name) = unexpected {
        let detail = format!("unexpected field {:?}", printable(name));
        return Err(Rejected::new(DeadLetterReason::MalformedEnvelope, detail));
    }
    Ok(signed)
}

/// The envelope, which must be a JSON object: serde's derive also accepts a struct as an array of
/// its fields in order, a second wire format that no other implementation of this one expects.
fn parse_envelope<T: DeserializeOwned>(raw: &[u8]) -> Result<ReceivedEnvelope<T>, String> {
    match raw.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => serde_json::from_slice(raw).map_err(|error| error.to_string()),
        _ => Err("the envelope is not a JSON object".to_owned()),
    }
}

/// At most 64 bytes of `bytes`, as text, for a detail.
fn printable(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(64)]).into_owned()
}

#[cfg(test)]
mod tests;
