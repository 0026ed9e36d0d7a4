// A schema-qualified name is still a plain table.
use tenant::TenantCtx;

fn misuse(ctx: &TenantCtx) {
    let _ = tenant::sqlx::query!(ctx, "SELECT id FROM public.invoices");
}

fn main() {
    let _ = misuse;
}
