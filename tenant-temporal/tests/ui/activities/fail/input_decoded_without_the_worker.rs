// An activity input opens only in the worker, which checks its signed claim: decoding one by
// hand would hand out a claim nobody checked.
use tenant::SignedClaim;
use tenant::temporal::ActivityInput;

#[derive(serde::Serialize, serde::Deserialize)]
struct RunMigrationsInput {
    ctx: SignedClaim,
    target_version: u32,
}

fn main() {
    let received: ActivityInput<RunMigrationsInput> =
        serde_json::from_str(r#"{"ctx":{},"target_version":3}"#).unwrap();
    let _ = received.decode();
}
