// A placeholder naming a type that is not #[tenant_scoped].
use tenant::TenantCtx;

fn misuse(ctx: &TenantCtx) {
    let _ = tenant::sqlx::query!(ctx, "SELECT id FROM {String}");
}

fn main() {
    let _ = misuse;
}
