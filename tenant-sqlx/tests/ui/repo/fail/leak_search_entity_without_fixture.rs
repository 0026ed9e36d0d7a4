use tenant::{tenant_scoped, TenantId};

#[tenant_scoped(table = "notes")]
pub struct Note {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    pub body: String,
}

fn main() {
    // No `tenant_testkit::Fixture` for Note: the search cannot make its rows.
    let _ = tenant_testkit::LeakSearch::<sqlx::Sqlite>::new("notes", || async { None })
        .entity::<Note>();
}
