// The worker's opener is what `#[tenant::activities]` generates a call to, not a public API.
fn main() {
    let _ = tenant::temporal::open_tenant_input::<()>;
}
