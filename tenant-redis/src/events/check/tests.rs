use super::*;

use crate::signing::encode_tag;

/// An entry's fields, as read.
type Fields = Vec<(Vec<u8>, Vec<u8>)>;

fn fields(list: &[(&str, &str)]) -> Fields {
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
        let rejected = read_fields(&twice).err().unwrap();
        assert_eq!(rejected.reason, DeadLetterReason::DuplicateField);
        assert!(rejected.detail.contains(name), "{}", rejected.detail);
    }
    let mut extra = ok.clone();
    extra.insert(0, (b"tenant_id".to_vec(), b"globex".to_vec()));
    let rejected = read_fields(&extra).err().unwrap();
    assert_eq!(rejected.reason, DeadLetterReason::MalformedEnvelope);
    // A duplicate wins over an unexpected field; hostile names stay short.
    let mut both = extra.clone();
    both.push((b"sig".to_vec(), b"x".to_vec()));
    assert_eq!(
        read_fields(&both).err().unwrap().reason,
        DeadLetterReason::DuplicateField
    );
    let long = vec![(vec![0xff; 10_000], vec![])];
    assert!(read_fields(&long).err().unwrap().detail.len() < 300);
}

const STREAM: &str = "invoices";

fn keys() -> SigningKeys {
    SigningKeys::new("kid1", &[1; 32]).unwrap()
}

/// A genuine envelope of `acme`, as text.
fn genuine() -> String {
    serde_json::json!({
        "tenant_id": "acme",
        "event_id": "6f1c1ab4-3c5e-4f0b-9a47-3b0a2f1e9d10",
        "occurred_at_ms": 1_764_100_000_000_u64,
        "payload": {"invoice": 7},
    })
    .to_string()
}

/// `envelope`, signed for `stream` with `keys`' current key, as an entry's fields.
fn signed(keys: &SigningKeys, stream: &str, envelope: &str) -> Fields {
    let (kid, tag) = keys.sign(stream, envelope.as_bytes());
    fields(&[
        ("envelope", envelope),
        ("kid", kid),
        ("sig", &encode_tag(&tag)),
    ])
}

#[derive(Debug, PartialEq, serde::Deserialize)]
struct Paid {
    invoice: u64,
}

fn check(fields: Option<&[(Vec<u8>, Vec<u8>)]>) -> Result<ReceivedEnvelope<Paid>, Rejected> {
    check_entry(&keys(), STREAM, fields)
}

#[test]
fn a_signed_envelope_passes_with_its_claimed_tenant() {
    let envelope = check(Some(&signed(&keys(), STREAM, &genuine()))).unwrap();
    assert_eq!(envelope.tenant_id.as_str(), "acme");
    assert_eq!(envelope.occurred_at_ms, 1_764_100_000_000);
    assert_eq!(envelope.payload, Paid { invoice: 7 });

    // Signed by a key that no longer signs but is still accepted.
    let old = SigningKeys::new("kid0", &[2; 32]).unwrap();
    let rotated = keys().with_accepted_key("kid0", &[2; 32]).unwrap();
    let entry = signed(&old, STREAM, &genuine());
    assert!(check_entry::<Paid>(&rotated, STREAM, Some(&entry)).is_ok());
}

/// Every reason the entry alone decides, each from the check that finds it, with a detail.
#[test]
fn each_refusal_has_its_reason() {
    use DeadLetterReason as Reason;

    let keys = keys();
    let good = signed(&keys, STREAM, &genuine());
    let without = |name: &str| -> Fields {
        good.iter()
            .filter(|(n, _)| n != name.as_bytes())
            .cloned()
            .collect()
    };
    let replaced = |name: &str, value: &[u8]| -> Fields {
        good.iter()
            .map(|(n, v)| {
                let v = if n == name.as_bytes() { value } else { v };
                (n.clone(), v.to_vec())
            })
            .collect()
    };
    let mut twice = good.clone();
    twice.push((b"kid".to_vec(), b"kid1".to_vec()));
    let mut extra = good.clone();
    extra.push((b"tenant_id".to_vec(), b"globex".to_vec()));
    let mut flipped = genuine().into_bytes();
    flipped[15] ^= 1;
    let other_key = SigningKeys::new("kid1", &[3; 32]).unwrap();
    let with = |field: &str, value: serde_json::Value| {
        let mut envelope: serde_json::Value = serde_json::from_str(&genuine()).unwrap();
        envelope[field] = value;
        signed(&keys, STREAM, &envelope.to_string())
    };

    let cases: Vec<(&str, Option<Fields>, Reason)> = vec![
        ("deleted while pending", None, Reason::MalformedEnvelope),
        ("a field twice", Some(twice), Reason::DuplicateField),
        ("another field", Some(extra), Reason::MalformedEnvelope),
        (
            "no envelope",
            Some(without("envelope")),
            Reason::MalformedEnvelope,
        ),
        ("no kid", Some(without("kid")), Reason::MissingSignature),
        ("no sig", Some(without("sig")), Reason::MissingSignature),
        (
            "unknown kid",
            Some(replaced("kid", b"kid9")),
            Reason::UnknownKeyId,
        ),
        (
            "sig not base64",
            Some(replaced("sig", b"!!")),
            Reason::BadSignature,
        ),
        (
            "envelope altered",
            Some(replaced("envelope", &flipped)),
            Reason::BadSignature,
        ),
        (
            "signed for another stream",
            Some(signed(&keys, "other", &genuine())),
            Reason::BadSignature,
        ),
        (
            "signed by another key of the same id",
            Some(signed(&other_key, STREAM, &genuine())),
            Reason::BadSignature,
        ),
        // Garbage that fails the signature is never parsed: refused as a forgery.
        (
            "unsigned garbage",
            Some(replaced("envelope", b"\xff not json")),
            Reason::BadSignature,
        ),
        (
            "signed, not JSON",
            Some(signed(&keys, STREAM, "{\"tenant_id\":")),
            Reason::MalformedEnvelope,
        ),
        (
            "signed, a JSON array",
            Some(signed(&keys, STREAM, "[\"acme\"]")),
            Reason::MalformedEnvelope,
        ),
        (
            "signed, an invalid tenant id",
            Some(with("tenant_id", "ACME".into())),
            Reason::MalformedEnvelope,
        ),
        (
            "signed, an unknown field",
            Some(with("system", true.into())),
            Reason::MalformedEnvelope,
        ),
        (
            "signed, a payload of another shape",
            Some(with("payload", "x".into())),
            Reason::MalformedEnvelope,
        ),
    ];
    for (what, fields, want) in &cases {
        let rejected = check(fields.as_deref()).err().unwrap();
        assert_eq!(rejected.reason, *want, "{what}: {}", rejected.detail);
        assert!(!rejected.detail.is_empty(), "{what}");
        assert_eq!(rejected.claimed_tenant, None, "{what}");
    }
    for reason in [
        Reason::MalformedEnvelope,
        Reason::DuplicateField,
        Reason::MissingSignature,
        Reason::UnknownKeyId,
        Reason::BadSignature,
    ] {
        assert!(cases.iter().any(|(_, _, r)| *r == reason), "{reason}");
    }
}
