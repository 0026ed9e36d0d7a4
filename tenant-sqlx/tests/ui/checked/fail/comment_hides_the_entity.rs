// The entity only inside a comment; the table read is the plain one.
use tenant::TenantCtx;

fn misuse(ctx: &TenantCtx) {
    let _ = tenant::sqlx::query!(ctx, "SELECT id FROM /* {Invoice} */ invoices");
}

fn main() {
    let _ = misuse;
}
