use tenant::{TenantId, tenant_scoped};

#[tenant_scoped(table = "notes")]
#[derive(serde::Serialize)]
pub struct Note {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub title: String,
}

fn main() {}
