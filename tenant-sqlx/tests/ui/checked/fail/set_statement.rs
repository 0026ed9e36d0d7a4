// SET changes the session: the next statement of the pooled connection sees it.
use tenant::TenantCtx;

fn misuse(ctx: &TenantCtx) {
    let _ = tenant::sqlx::query!(ctx, "SET search_path = public");
}

fn main() {
    let _ = misuse;
}
