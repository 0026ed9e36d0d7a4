"""The Python half of the mixed Rust/Python example (``examples/interop``), on the official
Temporal Python SDK: what a seeds worker does next to a Rust ``#[tenant::activities]`` worker.

- ``SeedsProvision``: a Python workflow that schedules the Rust activity ``run_migrations`` with
  the seeds' dataclasses and the claim its starter signed (``tenant_seeds.signing``), on the task
  queue and with the priority ``route_for_tenant`` gives.
- ``SeedsCall``: a Python workflow that schedules one Rust activity with a payload and a route of
  the caller's choosing, and reports how it ended: the example's refusals.
- ``seeds_run_migrations``: a Python activity that a Rust workflow schedules with a claim the Rust
  side signed; it verifies the claim with the Python port (``configure`` gives it the keys and
  audience), refusing a forged one as the Rust worker would, and says what it saw.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Optional

from temporalio import activity, workflow
from temporalio.common import Priority, RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from tenant_seeds import RunMigrationsInput, SignedClaim, route_for_tenant
    from tenant_seeds.signing import ClaimRefused, SigningKeys, verify_claim

#: The Rust crate's failure type of an input a worker refused to run.
INPUT_REJECTED = "tenant.ActivityInputRejected"

#: Bounded, so a refusal that wrongly comes back retryable ends the call (and fails the test)
#: after three quick attempts instead of hanging it.
RETRY = RetryPolicy(maximum_attempts=3, initial_interval=timedelta(milliseconds=200))
TIMEOUT = timedelta(seconds=30)


@dataclass
class ProvisionRequest:
    """``SeedsProvision``'s input: the tenant's signed claim, and the routing the Rust worker is
    set up with."""

    ctx: SignedClaim
    namespace: str
    queue_prefix: str
    shards: int
    target_version: int = 3


@dataclass
class RustCall:
    """``SeedsCall``'s input: an activity, the route to send it on, and its payload as it is (for
    payloads no dataclass makes: forged claims, unknown or mistyped fields)."""

    activity: str
    task_queue: str
    fairness_key: Optional[str] = None
    fairness_weight: Optional[float] = None
    raw: Any = None


@dataclass
class Outcome:
    """How a call ended: its result, or its failure's type, retryability and message."""

    completed: bool
    result: Any = None
    failure_type: Optional[str] = None
    non_retryable: bool = False
    message: str = ""


@workflow.defn(name="SeedsProvision")
class SeedsProvision:
    @workflow.run
    async def run(self, request: ProvisionRequest) -> dict:
        route = route_for_tenant(
            request.ctx, request.namespace, request.queue_prefix, request.shards, "activity"
        )
        report = await workflow.execute_activity(
            "run_migrations",
            RunMigrationsInput(ctx=request.ctx, target_version=request.target_version),
            task_queue=route.task_queue,
            # Set explicitly: an activity that inherits its workflow's priority carries none here.
            priority=Priority(
                fairness_key=route.fairness_key, fairness_weight=route.fairness_weight
            ),
            start_to_close_timeout=TIMEOUT,
            retry_policy=RETRY,
        )
        return {
            "report": report,
            "task_queue": route.task_queue,
            "fairness_key": route.fairness_key,
            "fairness_weight": route.fairness_weight,
        }


@workflow.defn(name="SeedsCall")
class SeedsCall:
    @workflow.run
    async def run(self, call: RustCall) -> Outcome:
        payload: Any = call.raw
        try:
            result = await workflow.execute_activity(
                call.activity,
                payload,
                task_queue=call.task_queue,
                priority=Priority(
                    fairness_key=call.fairness_key, fairness_weight=call.fairness_weight
                ),
                start_to_close_timeout=TIMEOUT,
                retry_policy=RETRY,
            )
        except ActivityError as error:
            cause = error.cause
            if isinstance(cause, ApplicationError):
                return Outcome(
                    completed=False,
                    failure_type=cause.type,
                    non_retryable=cause.non_retryable,
                    message=cause.message,
                )
            return Outcome(completed=False, failure_type=None, message=repr(cause))
        return Outcome(completed=True, result=result)


#: What ``seeds_run_migrations`` verifies claims with: the keys, namespace and queue prefix of
#: its worker (``configure``). Unset, every claim is refused.
_VERIFY: Optional[tuple[SigningKeys, str, str]] = None


def configure(keys: SigningKeys, namespace: str, queue_prefix: str) -> None:
    """Sets what the activities of this process verify claims with."""
    global _VERIFY
    _VERIFY = (keys, namespace, queue_prefix)


def _refuse(message: str) -> ApplicationError:
    return ApplicationError(message, type=INPUT_REJECTED, non_retryable=True)


@activity.defn(name="seeds_run_migrations")
async def seeds_run_migrations(input: RunMigrationsInput) -> dict:
    """What a seeds activity sees of a Rust workflow's call: its own dataclasses, and the route,
    once the Rust-signed claim verified (signature, expiry, audience) and the task's fairness key
    is its tenant."""
    info = activity.info()
    if _VERIFY is None:
        raise _refuse("this worker has no claim keys")
    keys, namespace, queue_prefix = _VERIFY
    try:
        ctx = verify_claim(keys, input.ctx, namespace, queue_prefix)
    except ClaimRefused as refused:
        raise _refuse(f"activity `{info.activity_type}`: {refused}") from None
    if info.priority.fairness_key != ctx.tenant_id:
        raise _refuse(
            f"activity `{info.activity_type}`: the task's fairness key is not the claimed tenant's"
        )
    return {
        "input_is_dataclass": isinstance(input, RunMigrationsInput),
        "ctx_is_dataclass": isinstance(input.ctx, SignedClaim),
        "tenant_id": ctx.tenant_id,
        "schema_name": ctx.schema_name,
        "plan": ctx.plan,
        "target_version": input.target_version,
        "task_queue": info.task_queue,
        "fairness_key": info.priority.fairness_key,
        "fairness_weight": info.priority.fairness_weight,
    }
