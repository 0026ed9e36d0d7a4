// `ScopedKey` has no conversion from text: only `TenantCtx::scoped_key` renders one, so a key of another tenant cannot be forged.
use tenant::ScopedKey;

fn main() {
    let _key: ScopedKey = String::from("t:9:acme-corp:secret").into();
}
