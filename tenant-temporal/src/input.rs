//! Activity and workflow inputs as they cross the engine: kept as JSON until the worker (or
//! the workflow) opens them, so that a payload that does not decode is a typed refusal.

use std::fmt;

use serde::de::{DeserializeOwned, Deserializer};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};
use temporalio_common::error::ApplicationFailure;
use tenant_core::AUDIT_TARGET;

/// The application failure type of an activity input the worker refused to run.
pub const INPUT_REJECTED: &str = "tenant.ActivityInputRejected";

/// The failure of an input the worker or the workflow refused: type [`INPUT_REJECTED`],
/// retryable only when `retryable` says a retry could change the answer.
pub(crate) fn input_rejected(
    error: impl std::error::Error + Send + Sync + 'static,
    retryable: bool,
) -> ApplicationFailure {
    ApplicationFailure::builder(error)
        .type_name(INPUT_REJECTED.to_owned())
        .non_retryable(!retryable)
        .build()
}

/// The payload of a tenant-carrying activity as it crosses the engine.
///
/// Built from the generated `<Method>Input` (`execute_activity` takes anything that converts into
/// it, so workflow code passes the input itself). Decoding never fails at the SDK's payload
/// conversion, whose errors are retryable: any JSON value is accepted there and kept, and the
/// worker decodes it when it opens the input, turning a payload that does not decode into a
/// non-retryable [`INPUT_REJECTED`] failure.
///
/// ```
/// use tenant::temporal::ActivityInput;
///
/// struct Resize;
///
/// // Garbage and a tampered claim get past the SDK's converter; the worker refuses them.
/// for payload in [r#"[1,2]"#, r#"{"ctx":{"tenant_id":"acme'; --"},"pixels":3}"#, "null"] {
///     assert!(serde_json::from_str::<ActivityInput<Resize>>(payload).is_ok());
/// }
/// # Ok::<(), serde_json::Error>(())
/// ```
pub struct ActivityInput<T> {
    inner: Inner<T>,
}

enum Inner<T> {
    /// Built by a workflow from the typed input.
    Outgoing(T),
    /// Received by a worker: kept as JSON until the worker opens it, so that a payload that does
    /// not decode is a typed, non-retryable refusal and not a payload-conversion error the SDK
    /// would retry.
    Incoming(serde_json::Value),
}

impl<T> ActivityInput<T> {
    /// The input, decoded from the received payload, or why it does not decode and where: the
    /// JSON path of the refused value. The worker does this before it verifies the claim; an
    /// input a workflow built goes through its JSON form, as the worker would see it.
    ///
    /// Crate-private: a decoded input holds a claim nobody has checked yet, so the only way to
    /// open an activity input is the worker's, which checks it (and a workflow's input is opened
    /// by [`WorkflowInput::open`]).
    pub(crate) fn decode(self) -> Result<T, DecodeError>
    where
        T: Serialize + DeserializeOwned,
    {
        let value = match self.inner {
            Inner::Incoming(value) => value,
            Inner::Outgoing(input) => serde_json::to_value(input).map_err(|e| DecodeError {
                path: ".".to_owned(),
                reason: e.to_string(),
            })?,
        };
        // An input is its fields by name. serde's derive would also read a struct from an array
        // of its fields in order, a second wire format that no other SDK writes.
        if !value.is_object() {
            return Err(DecodeError {
                path: ".".to_owned(),
                reason: format!("expected an object of named fields, found {}", kind(&value)),
            });
        }
        // `serde_path_to_error` tracks the keys and indexes the deserialiser is inside when it
        // fails; serde's own message says what was wrong but not where.
        serde_path_to_error::deserialize(value).map_err(|error| DecodeError {
            path: error.path().to_string(),
            reason: error.into_inner().to_string(),
        })
    }
}

/// The JSON type of `value`, for a refusal.
fn kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Why a received input did not decode, and where.
///
/// `path` is the JSON path of the value that was refused, as
/// [`serde_path_to_error`](https://docs.rs/serde_path_to_error) writes it: `ctx.tenant_id`,
/// `target_version`, `items[2]`, or `.` for the input as a whole (a missing field, or a payload
/// that is not an object).
///
/// ```
/// use tenant::temporal::WorkflowInput;
/// use tenant::SignedClaim;
///
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct Provision {
///     ctx: SignedClaim,
///     owner: String,
/// }
///
/// // A bare claim where a signed one belongs: refused, with the path of the refused value.
/// let received: WorkflowInput<Provision> =
///     serde_json::from_str(r#"{"ctx":{"tenant_id":"acme"},"owner":"o"}"#)?;
/// let failure = received.open().err().unwrap();
/// assert!(failure.to_string().contains("at `ctx`"), "{failure}");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at `{path}`: {reason}")]
#[non_exhaustive]
pub struct DecodeError {
    /// The JSON path of the refused value.
    pub path: String,
    /// What was wrong with it: serde's message.
    pub reason: String,
}

impl<T> From<T> for ActivityInput<T> {
    fn from(input: T) -> Self {
        ActivityInput {
            inner: Inner::Outgoing(input),
        }
    }
}

impl<T> fmt::Debug for ActivityInput<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The payload may hold anything; the tenant shows up in the activity's own span.
        f.write_str("ActivityInput(..)")
    }
}

impl<T: Serialize> Serialize for ActivityInput<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match &self.inner {
            Inner::Outgoing(input) => input.serialize(serializer),
            Inner::Incoming(value) => value.serialize(serializer),
        }
    }
}

impl<'de, T> Deserialize<'de> for ActivityInput<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(ActivityInput {
            inner: Inner::Incoming(serde_json::Value::deserialize(deserializer)?),
        })
    }
}

/// A workflow's input as it crosses the engine, opened by the workflow itself.
///
/// The SDK decodes a workflow's input before the workflow runs, and a payload that does not
/// decode fails the workflow *task*, which the server retries for ever. Taking a
/// `WorkflowInput<T>` instead accepts any JSON there; [`open`](Self::open) then decodes it inside
/// the workflow, and a payload that does not decode (a missing or malformed tenant claim, an
/// unknown field) fails the workflow with a **non-retryable** [`INPUT_REJECTED`] failure. The
/// claim it carries is verified by the first activity the workflow schedules.
///
/// ```
/// use std::time::Duration;
/// use tenant::temporal::WorkflowInput;
/// use tenant::signed::Audience;
/// use tenant::{Plan, SignedClaim, SigningKeys, TenantCtx};
///
/// #[derive(serde::Serialize, serde::Deserialize)]
/// #[serde(deny_unknown_fields)]
/// struct Provision {
///     ctx: SignedClaim,
///     owner: String,
/// }
///
/// let keys = SigningKeys::new("claims1", &[7; 32])?;
/// let ctx = TenantCtx::trusted("acme".parse()?, "tenant_acme".parse()?, Plan::Free);
/// let claim = SignedClaim::sign(&ctx, &keys, &Audience::new("default", "p"), Duration::from_secs(60))?;
/// let sent = WorkflowInput::from(Provision { ctx: claim, owner: "o".into() });
/// let json = serde_json::to_string(&sent)?;
/// let received: WorkflowInput<Provision> = serde_json::from_str(&json)?;
/// assert_eq!(received.open()?.owner, "o");
///
/// let forged: WorkflowInput<Provision> = serde_json::from_str(r#"{"ctx":{"tenant_id":"acme"},"owner":"o"}"#)?;
/// let Err(failure) = forged.open() else { panic!("a forged claim was opened") };
/// assert!(failure.is_non_retryable());
/// assert_eq!(failure.type_name(), Some(tenant::temporal::INPUT_REJECTED));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct WorkflowInput<T>(ActivityInput<T>);

impl<T: Serialize + DeserializeOwned> WorkflowInput<T> {
    /// The decoded input, or the non-retryable failure that ends the workflow (`?` converts it
    /// into the SDK's workflow termination).
    // The SDK converts an `ApplicationFailure` (not a box of one) into a workflow termination,
    // and this runs once per workflow: its size does not matter.
    #[allow(clippy::result_large_err)]
    pub fn open(self) -> Result<T, ApplicationFailure> {
        self.0.decode().map_err(|error| {
            tracing::warn!(target: AUDIT_TARGET, %error, "workflow input rejected");
            input_rejected(WorkflowInputRejected(error), false)
        })
    }
}

/// Why a workflow input was refused: its decode error, with the path of the refused value.
#[derive(Debug, thiserror::Error)]
#[error("workflow input rejected {0}")]
struct WorkflowInputRejected(DecodeError);

impl<T> From<T> for WorkflowInput<T> {
    fn from(input: T) -> Self {
        WorkflowInput(ActivityInput::from(input))
    }
}

impl<T> fmt::Debug for WorkflowInput<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WorkflowInput(..)")
    }
}

impl<T: Serialize> Serialize for WorkflowInput<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de, T> Deserialize<'de> for WorkflowInput<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        ActivityInput::deserialize(deserializer).map(WorkflowInput)
    }
}
