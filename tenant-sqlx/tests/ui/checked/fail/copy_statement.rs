// COPY reads a table outside any restriction.
use tenant::TenantCtx;

fn misuse(ctx: &TenantCtx) {
    let _ = tenant::sqlx::query!(ctx, "COPY invoices TO STDOUT");
}

fn main() {
    let _ = misuse;
}
