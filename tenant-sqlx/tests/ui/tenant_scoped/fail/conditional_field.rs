// A field under #[cfg] would make the table's columns depend on build flags, and the generated
// New/Patch types would disagree with the struct: rejected with a pointer to the cfg.
use tenant::{tenant_scoped, TenantId};

#[tenant_scoped(table = "notes")]
pub struct Note {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    #[cfg(unix)]
    pub legacy: i64,
}

fn main() {}
