//! Decoding received inputs, and the failures their refusals become.

use serde::{Deserialize, Serialize};
use tenant_core::TenantClaim;

use crate::input::input_rejected;
use crate::{ActivityInput, ActivityInputError, DecodeError, INPUT_REJECTED, WorkflowInput};

/// The wire form of the seeds' `RunMigrationsInput(ctx=TenantCtx(..), target_version=3)`, as
/// `#[tenant::activities]` generates it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RunMigrationsInput {
    ctx: TenantClaim,
    target_version: u32,
}

fn decode(json: &str) -> Result<RunMigrationsInput, DecodeError> {
    serde_json::from_str::<ActivityInput<RunMigrationsInput>>(json)
        .expect("any JSON gets past the SDK's converter")
        .decode()
}

#[test]
fn the_seeds_payloads_decode() {
    for seeds in [
        // `TenantCtx(plan=None)` through the Python SDK: sorted keys, `null` plan.
        r#"{"ctx":{"plan":null,"schema_name":"tenant_acme","tenant_id":"acme"},"target_version":3}"#,
        r#"{"target_version":3,"ctx":{"tenant_id":"acme"}}"#,
        r#"{"ctx":{"plan":"platinum","schema_name":"tenant_acme","tenant_id":"acme"},"target_version":3}"#,
        // A newer context with a field ours lacks: ignored (see the module's policy).
        r#"{"ctx":{"plan":"pro","region":"eu","schema_name":"tenant_acme","tenant_id":"acme"},"target_version":3}"#,
    ] {
        let input = decode(seeds).unwrap_or_else(|e| panic!("{seeds}: {e}"));
        assert_eq!(input.ctx.tenant_id().as_str(), "acme");
        assert_eq!(input.target_version, 3);
    }
}

#[test]
fn rejections_name_the_path_of_the_bad_value() {
    for (payload, path, says) in [
        (
            r#"{"ctx":{"tenant_id":"ACME"},"target_version":3}"#,
            "ctx.tenant_id",
            "tenant id",
        ),
        (
            r#"{"ctx":{"tenant_id":"acme'; --"},"target_version":3}"#,
            "ctx.tenant_id",
            "tenant id",
        ),
        (
            r#"{"ctx":{"tenant_id":"acme","plan":42},"target_version":3}"#,
            "ctx.plan",
            "invalid type",
        ),
        (
            r#"{"ctx":{"tenant_id":"acme","schema_name":"public"},"target_version":3}"#,
            "ctx.schema_name",
            "schema",
        ),
        (
            r#"{"ctx":{"tenant_id":"acme"},"target_version":"three"}"#,
            "target_version",
            "invalid type",
        ),
        (
            r#"{"ctx":{"tenant_id":"acme"},"target_version":-1}"#,
            "target_version",
            "invalid value",
        ),
        (
            r#"{"ctx":{"tenant_id":"acme"},"target_version":3,"dry_run":true}"#,
            "dry_run",
            "unknown field `dry_run`",
        ),
        (r#"{"ctx":null,"target_version":3}"#, "ctx", "invalid type"),
        (
            r#"{"ctx":{"schema_name":"tenant_acme"},"target_version":3}"#,
            "ctx",
            "missing field `tenant_id`",
        ),
        (r#"{"target_version":3}"#, ".", "missing field `ctx`"),
        (r#""garbage""#, ".", "found a string"),
        // Not the fields by position either, as serde's derive alone would read them.
        (r#"["ACME",3]"#, ".", "found an array"),
    ] {
        let error = decode(payload).expect_err(payload);
        assert_eq!(error.path, path, "{payload}: {error}");
        assert!(error.reason.contains(says), "{payload}: {error}");
        // The failure the worker returns says where, in its message.
        let failure = ActivityInputError::Malformed {
            activity: "run_migrations".into(),
            error: error.clone(),
        };
        let message = failure.to_string();
        assert!(message.contains(&format!("at `{path}`")), "{message}");
        let application = input_rejected(failure, false);
        assert_eq!(application.type_name(), Some(INPUT_REJECTED));
        assert!(application.is_non_retryable());
        assert_eq!(application.source_error().to_string(), message);
    }
}

/// Found by fuzzing: serde's derive read the input, and the claim in it, from arrays of
/// their fields in order (`[["acme", null, null], 3]`).
#[test]
fn inputs_and_claims_written_as_arrays_are_refused() {
    for (payload, path) in [
        (r#"[{"tenant_id":"acme"},3]"#, "."),
        (r#"{"ctx":["acme",null,null],"target_version":3}"#, "ctx"),
        (r#"[["acme",null,null],3]"#, "."),
    ] {
        let input: ActivityInput<RunMigrationsInput> = serde_json::from_str(payload).unwrap();
        let error = input.decode().expect_err(payload);
        assert_eq!(error.path, path, "{payload}: {error}");
        assert!(error.reason.contains("object"), "{payload}: {error}");
    }
}

#[test]
fn a_workflow_input_rejection_names_the_path_too() {
    let input: WorkflowInput<RunMigrationsInput> =
        serde_json::from_str(r#"{"ctx":{"tenant_id":"acme"},"target_version":null}"#).unwrap();
    let failure = input.open().expect_err("a null version");
    assert!(failure.is_non_retryable());
    assert!(
        failure
            .source_error()
            .to_string()
            .contains("at `target_version`"),
        "{}",
        failure.source_error()
    );
}

/// Item 6 of issue 21, without a server: a task's priority must be its signed claim's route,
/// the weight of the signed plan included, and carry no priority key of its own.
#[test]
fn a_task_priority_must_be_the_signed_claims_route() {
    use std::time::Duration;
    use tenant_core::routing::{QueueKind, Routing};
    use tenant_core::{Plan, SignedClaim, SigningKeys, TenantCtx};

    let routing = Routing::new("default", "p", 2.try_into().unwrap());
    let keys = SigningKeys::new("claims1", &[7; 32]).unwrap();
    let ctx = TenantCtx::trusted(
        "globex".parse().unwrap(),
        "tenant_globex".parse().unwrap(),
        Plan::Free,
    );
    let claim =
        SignedClaim::sign(&ctx, &keys, &routing.audience(), Duration::from_secs(60)).unwrap();
    let route = routing.route_claim(&claim, QueueKind::Activity);
    let sdk = crate::sdk_priority(&route.priority);
    assert_eq!(crate::verify::check_priority(&sdk, &route), Ok(()));
    let mut heavier = sdk.clone();
    heavier.fairness_weight = Some(10.0);
    assert_eq!(
        crate::verify::check_priority(&heavier, &route),
        Err("fairness weight")
    );
    let mut unweighted = sdk.clone();
    unweighted.fairness_weight = None;
    assert_eq!(
        crate::verify::check_priority(&unweighted, &route),
        Err("fairness weight")
    );
    let mut jumping = sdk.clone();
    jumping.priority_key = Some(1);
    assert_eq!(
        crate::verify::check_priority(&jumping, &route),
        Err("priority key")
    );
    let mut other = sdk;
    other.fairness_key = Some("acme".into());
    assert_eq!(
        crate::verify::check_priority(&other, &route),
        Err("fairness key")
    );
}
