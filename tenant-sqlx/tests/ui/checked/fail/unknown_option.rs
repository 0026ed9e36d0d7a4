// A misspelled option: silently ignored, it would make a shared table a refused one, or worse.
use tenant::TenantCtx;

fn misuse(ctx: &TenantCtx) {
    let _ = tenant::sqlx::query!(ctx, shard(countries), "SELECT c.code FROM countries c");
}

fn main() {
    let _ = misuse;
}
