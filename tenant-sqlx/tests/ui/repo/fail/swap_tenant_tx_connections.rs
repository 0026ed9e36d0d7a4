// Two tenant-bound transactions' connections swapped in safe code: acme's statements would run
// in globex's transaction, under globex's tenant setting. `TenantTx` has no `DerefMut`; raw
// queries run on `tx.executor()`, whose type is opaque.
use tenant::sqlx::TenantTx;

fn swap(mut acme: TenantTx<sqlx::Postgres>, mut globex: TenantTx<sqlx::Postgres>) {
    std::mem::swap(&mut *acme, &mut *globex);
}

fn main() {}
