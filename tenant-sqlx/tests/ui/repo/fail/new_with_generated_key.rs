// `NewTicket` has no field for a generated key (nor for a defaulted column): the database fills it.
use tenant::{tenant_scoped, TenantId};

#[tenant_scoped(table = "tickets")]
pub struct Ticket {
    #[key(generated)]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    pub title: String,
    #[column(default = "'open'")]
    pub status: String,
}

fn main() {
    let _new = NewTicket { id: 7, title: "t".into() };
}
