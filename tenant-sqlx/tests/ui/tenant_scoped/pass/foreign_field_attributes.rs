// Attributes that belong to the compiler or to other derives pass through untouched and are not
// mistaken for typos of #[key] or #[tenant] (`deny`, `get`, `set` and `new` are one or two edits
// away from `key`).
// A `[[test]]` target of the crate, so the workspace lints reach it: `missing_docs` and
// `unreachable_pub` are ours, not what a user's crate must satisfy; `dead_code` is allowed as
// trybuild allowed it when these were its `pass` cases (fields a case declares and never reads).
#![allow(missing_docs, unreachable_pub, dead_code)]
#![deny(warnings)]

use tenant::{TenantId, tenant_scoped};

#[tenant_scoped(table = "notes")]
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Note {
    #[key]
    #[allow(unused)]
    pub id: i64,
    #[tenant]
    #[serde(skip_deserializing, default = "placeholder_tenant")]
    pub tenant_id: TenantId,
    /// The body.
    #[deny(deprecated)]
    #[serde(rename = "text")]
    pub body_text: String,
}

// A field's serde attributes written for its type reach the Patch's `Option` of it: `with`,
// `serialize_with` and `deserialize_with` through wrappers for `Some`, `rename` and `skip` as they
// are, and `#[patch(serde(..))]` says what the Patch gets instead of the field's own.
#[tenant_scoped(table = "events")]
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Event {
    #[key]
    pub id: i64,
    #[tenant]
    #[serde(skip_deserializing, default = "placeholder_tenant")]
    pub tenant_id: TenantId,
    #[serde(with = "chrono::serde::ts_milliseconds", rename = "at")]
    pub happened_at: chrono::DateTime<chrono::Utc>,
    #[serde(serialize_with = "shout", deserialize_with = "whisper")]
    pub title: String,
    #[serde(skip)]
    pub internal: i64,
    #[serde(default = "one", skip_serializing_if = "is_one")]
    #[patch(serde(default, skip_serializing_if = "Option::is_none"))]
    pub weight: i64,
}

fn shout<S: serde::Serializer>(title: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&title.to_uppercase())
}

fn whisper<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    <String as serde::Deserialize>::deserialize(d).map(|t| t.to_lowercase())
}

fn one() -> i64 {
    1
}

fn is_one(weight: &i64) -> bool {
    *weight == 1
}

fn events() {
    use serde_json::json;
    let at = chrono::DateTime::from_timestamp_millis(1_764_700_000_123).unwrap();
    // New: the field's own attributes, as written.
    let new = NewEvent {
        id: 7,
        happened_at: at,
        title: "Launch".into(),
        internal: 3,
        weight: 1,
    };
    let json = serde_json::to_value(&new).unwrap();
    assert_eq!(
        json,
        json!({"id": 7, "at": 1_764_700_000_123_i64, "title": "LAUNCH"})
    );
    let back: NewEvent = serde_json::from_value(json).unwrap();
    assert_eq!(
        back,
        NewEvent {
            title: "launch".into(),
            internal: 0,
            ..new
        }
    );

    // Patch: the same wire format for `Some`, `null` for `None` of a wrapped field.
    let patch = EventPatch {
        happened_at: Some(at),
        title: Some("Ship".into()),
        internal: Some(5),
        weight: Some(1),
    };
    let json = serde_json::to_value(&patch).unwrap();
    assert_eq!(
        json,
        json!({"at": 1_764_700_000_123_i64, "title": "SHIP", "weight": 1})
    );
    let back: EventPatch = serde_json::from_value(json).unwrap();
    assert_eq!(back.happened_at, Some(at));
    assert_eq!(back.title.as_deref(), Some("ship"));
    assert_eq!((back.internal, back.weight), (None, Some(1)));

    // A patch that leaves everything alone: wrapped fields missing or `null` are `None`.
    let empty = serde_json::to_value(EventPatch::default()).unwrap();
    assert_eq!(empty, json!({"at": null, "title": null}));
    for json in [empty, json!({})] {
        let back: EventPatch = serde_json::from_value(json).unwrap();
        assert_eq!(
            (back.happened_at, back.title, back.weight),
            (None, None, None)
        );
    }
    // The wrapped `with` still refuses what it refuses for the entity.
    assert!(serde_json::from_value::<EventPatch>(json!({"at": "yesterday"})).is_err());
}

fn placeholder_tenant() -> TenantId {
    "placeholder".parse().unwrap()
}

fn main() {
    let new: NewNote = serde_json::from_str(r#"{"id": 1, "text": "hi"}"#).unwrap();
    assert_eq!(new.body_text, "hi");
    let patch: NotePatch = serde_json::from_str(r#"{"text": "bye"}"#).unwrap();
    assert_eq!(patch.body_text.as_deref(), Some("bye"));
    events();
}
