// `TenantId` has no `From<String>`: every tenant id must be validated by `parse`.
use tenant::TenantId;

fn main() {
    let raw = String::from("Acme'; --");
    let _id: TenantId = raw.clone().into();
    let _id = TenantId::from(raw);
}
