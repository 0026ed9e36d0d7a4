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

fn placeholder_tenant() -> TenantId {
    "placeholder".parse().unwrap()
}

fn main() {
    let new: NewNote = serde_json::from_str(r#"{"id": 1, "text": "hi"}"#).unwrap();
    assert_eq!(new.body_text, "hi");
    let patch: NotePatch = serde_json::from_str(r#"{"text": "bye"}"#).unwrap();
    assert_eq!(patch.body_text.as_deref(), Some("bye"));
}
