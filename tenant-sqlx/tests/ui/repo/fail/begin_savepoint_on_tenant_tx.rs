// The hidden `Conn::begin` would hand out a savepoint `Transaction`, which dereferences to
// `&mut PgConnection`, and with it the swap `TenantTx` refuses. Only tenant-sqlx can call it.
use tenant::sqlx::{Conn, TenantTx};

async fn savepoint(mut tx: &mut TenantTx<sqlx::Postgres>) {
    let _savepoint = Conn::begin(&mut tx).await;
}

fn main() {}
