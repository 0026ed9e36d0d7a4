// `CollectionName` has no conversion from text: only `TenantCtx::collection` renders one.
use tenant::CollectionName;

fn main() {
    let _name: CollectionName = String::from("t9_acme-corp_docs").into();
}
