use tenant::{TenantId, tenant_scoped};

#[tenant_scoped(table = "notes")]
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Note {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    #[serde(default = "untitled")]
    pub title: String,
}

fn untitled() -> String {
    "untitled".into()
}

fn main() {}
