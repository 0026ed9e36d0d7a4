//! The JSON forms: exactly the documented fields, from an object only (serde's derive would
//! also read a struct from an array of its fields in order, a second wire format).

use super::*;

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct WireClaim {
    tenant_id: TenantId,
    schema_name: SchemaName,
    plan: Plan,
    namespace: String,
    queue_prefix: String,
    expires_at: u64,
    key_id: String,
    signature: Tag,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct WireToken {
    reason: String,
    namespace: String,
    queue_prefix: String,
    expires_at: u64,
    key_id: String,
    signature: Tag,
}

/// A 32-byte tag as standard, padded base64.
struct Tag([u8; 32]);

impl serde::Serialize for Tag {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&STANDARD.encode(self.0))
    }
}

impl<'de> serde::Deserialize<'de> for Tag {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        STANDARD
            .decode(text.as_bytes())
            .ok()
            .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
            .map(Tag)
            .ok_or_else(|| {
                serde::de::Error::custom("a signature is standard, padded base64 of 32 bytes")
            })
    }
}

/// Reads `T` from a map only.
fn from_map<'de, D, T>(deserializer: D, expecting: &'static str) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    struct Visitor<T>(&'static str, std::marker::PhantomData<T>);
    impl<'de, T: serde::Deserialize<'de>> serde::de::Visitor<'de> for Visitor<T> {
        type Value = T;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }

        fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
            T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
        }
    }
    deserializer.deserialize_map(Visitor(expecting, std::marker::PhantomData))
}

impl serde::Serialize for SignedClaim {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        WireClaim {
            tenant_id: self.tenant_id.clone(),
            schema_name: self.schema_name.clone(),
            plan: self.plan.clone(),
            namespace: self.audience.namespace.clone(),
            queue_prefix: self.audience.queue_prefix.clone(),
            expires_at: self.expires_at,
            key_id: self.key_id.clone(),
            signature: Tag(self.signature),
        }
        .serialize(serializer)
    }
}

impl<'de> serde::Deserialize<'de> for SignedClaim {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire: WireClaim = from_map(deserializer, "a signed tenant claim: an object")?;
        Ok(SignedClaim {
            tenant_id: wire.tenant_id,
            schema_name: wire.schema_name,
            plan: wire.plan,
            audience: Audience::new(wire.namespace, wire.queue_prefix),
            expires_at: wire.expires_at,
            key_id: wire.key_id,
            signature: wire.signature.0,
        })
    }
}

impl serde::Serialize for SystemToken {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        WireToken {
            reason: self.reason.clone(),
            namespace: self.audience.namespace.clone(),
            queue_prefix: self.audience.queue_prefix.clone(),
            expires_at: self.expires_at,
            key_id: self.key_id.clone(),
            signature: Tag(self.signature),
        }
        .serialize(serializer)
    }
}

impl<'de> serde::Deserialize<'de> for SystemToken {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire: WireToken = from_map(deserializer, "a signed system token: an object")?;
        Ok(SystemToken {
            reason: wire.reason,
            audience: Audience::new(wire.namespace, wire.queue_prefix),
            expires_at: wire.expires_at,
            key_id: wire.key_id,
            signature: wire.signature.0,
        })
    }
}
