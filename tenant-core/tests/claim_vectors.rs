//! The signed claims and system tokens against `tests/data/claim_vectors.json`, the vectors the
//! Python port (`examples/interop/python`) checks itself against too: computed with Python's
//! `hmac`, independently of this crate, they pin the canonical encoding, the JSON form, and what
//! a verifier refuses.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tenant::signed::{Audience, SignedClaimError, SystemToken};
use tenant::{Plan, SignatureError, SignedClaim, SigningKeys, SystemCtx, TenantCtx};

fn vectors() -> Value {
    let text = include_str!("data/claim_vectors.json");
    serde_json::from_str(text).expect("the vectors are JSON")
}

fn text(value: &Value, field: &str) -> String {
    value[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field}"))
        .to_owned()
}

fn audience(value: &Value) -> Audience {
    Audience::new(text(value, "namespace"), text(value, "queue_prefix"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn now(vectors: &Value) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(vectors["now"].as_u64().unwrap())
}

#[test]
fn signing_reproduces_every_claim_vector() {
    let vectors = vectors();
    let keys: SigningKeys = text(&vectors, "keys").parse().unwrap();
    for case in vectors["claims"].as_array().unwrap() {
        let name = text(case, "name");
        let fields = &case["fields"];
        let ctx = TenantCtx::trusted(
            text(fields, "tenant_id").parse().unwrap(),
            text(fields, "schema_name").parse().unwrap(),
            text(fields, "plan").parse::<Plan>().unwrap(),
        );
        let lifetime = Duration::from_secs(case["lifetime_secs"].as_u64().unwrap());
        let claim =
            SignedClaim::sign_at(&ctx, &keys, &audience(fields), lifetime, now(&vectors)).unwrap();
        assert_eq!(
            hex(&claim.mac_input()),
            text(case, "mac_input_hex"),
            "{name}"
        );
        assert_eq!(
            serde_json::to_value(&claim).unwrap(),
            case["json"],
            "{name}"
        );
        let read: SignedClaim = serde_json::from_value(case["json"].clone()).unwrap();
        assert_eq!(read, claim, "{name}");
        read.check(&keys, &audience(fields), now(&vectors))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn signing_reproduces_every_system_token_vector() {
    let vectors = vectors();
    let keys: SigningKeys = text(&vectors, "keys").parse().unwrap();
    for case in vectors["system_tokens"].as_array().unwrap() {
        let name = text(case, "name");
        let fields = &case["fields"];
        let reason: &'static str = Box::leak(text(fields, "reason").into_boxed_str());
        let sys = SystemCtx::new(reason).unwrap();
        let lifetime = Duration::from_secs(case["lifetime_secs"].as_u64().unwrap());
        let token =
            SystemToken::sign_at(&sys, &keys, &audience(fields), lifetime, now(&vectors)).unwrap();
        assert_eq!(
            hex(&token.mac_input()),
            text(case, "mac_input_hex"),
            "{name}"
        );
        assert_eq!(
            serde_json::to_value(&token).unwrap(),
            case["json"],
            "{name}"
        );
        let read: SystemToken = serde_json::from_value(case["json"].clone()).unwrap();
        read.check(&keys, &audience(fields), reason, now(&vectors))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

/// What each refusal is called in the vectors.
fn kind(error: &SignedClaimError) -> &'static str {
    match error {
        SignedClaimError::Signature(SignatureError::UnknownKeyId) => "unknown_key_id",
        SignedClaimError::Signature(_) => "signature",
        SignedClaimError::Expired => "expired",
        SignedClaimError::Audience => "audience",
        SignedClaimError::Reason => "reason",
        other => panic!("not a vector's refusal: {other}"),
    }
}

#[test]
fn every_tampered_vector_is_refused_for_its_reason() {
    let vectors = vectors();
    let keys: SigningKeys = text(&vectors, "keys").parse().unwrap();
    let (audience, reason, now) = (
        audience(&vectors["audience"]),
        text(&vectors, "reason"),
        now(&vectors),
    );
    let tampered = vectors["tampered"].as_array().unwrap();
    assert!(tampered.len() >= 10, "the vectors are the real file");
    for case in tampered {
        let (name, want) = (text(case, "name"), text(case, "error"));
        let json = case["json"].clone();
        let got = match text(case, "kind").as_str() {
            "claim" => serde_json::from_value::<SignedClaim>(json)
                .map_err(|_| "malformed")
                .map(|claim| claim.check(&keys, &audience, now)),
            "system" => serde_json::from_value::<SystemToken>(json)
                .map_err(|_| "malformed")
                .map(|token| token.check(&keys, &audience, &reason, now)),
            other => panic!("{other}"),
        };
        let got = match got {
            Err(malformed) => malformed,
            Ok(Ok(())) => panic!("{name}: accepted"),
            Ok(Err(error)) => kind(&error),
        };
        assert_eq!(got, want, "{name}");
    }
    for case in vectors["accepted"].as_array().unwrap() {
        let claim: SignedClaim = serde_json::from_value(case["json"].clone()).unwrap();
        claim
            .check(&keys, &audience, now)
            .unwrap_or_else(|e| panic!("{}: {e}", text(case, "name")));
    }
}

/// A zero lifetime is a typed error, not a claim that is born expired.
#[test]
fn a_claim_needs_a_lifetime() {
    let keys = SigningKeys::new("claims1", &[7; 32]).unwrap();
    let ctx = TenantCtx::trusted(
        "acme".parse().unwrap(),
        "tenant_acme".parse().unwrap(),
        Plan::Free,
    );
    let audience = Audience::new("default", "p");
    assert_eq!(
        SignedClaim::sign(&ctx, &keys, &audience, Duration::ZERO).unwrap_err(),
        tenant::signed::SignError::Lifetime
    );
    assert_eq!(
        SignedClaim::sign(&ctx, &keys, &audience, Duration::MAX).unwrap_err(),
        tenant::signed::SignError::Lifetime
    );
}
