// A pool of another sqlx version (0.8, most services' today) has the same name as sqlx 0.9's but
// is another type. Stood in for here by a same-named type, as the UI project has one sqlx.
use tenant::{TenantId, tenant_scoped};

mod sqlx08 {
    pub struct Postgres;
    pub struct Pool<DB>(pub DB);
}

#[tenant_scoped(table = "notes")]
pub struct Note {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    pub body: String,
}

fn main() {
    let pool = sqlx08::Pool(sqlx08::Postgres);
    let _repo = NoteRepo::new(&pool);
}
