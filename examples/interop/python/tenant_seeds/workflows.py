"""The Python half of the mixed Rust/Python example (``examples/interop``), on the official
Temporal Python SDK: what a seeds worker does next to a Rust ``#[tenant::activities]`` worker.

- ``SeedsProvision``: a Python workflow that schedules the Rust activity ``run_migrations`` with
  the seeds' dataclasses, on the task queue and with the priority ``route_for_tenant`` gives.
- ``SeedsCall``: a Python workflow that schedules one Rust activity with a payload and a route of
  the caller's choosing, and reports how it ended: the example's refusals.
- ``seeds_run_migrations``: a Python activity that a Rust workflow schedules with the Rust side's
  context; it reads the seeds' ``RunMigrationsInput`` from it and says what it saw.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Optional

from temporalio import activity, workflow
from temporalio.common import Priority, RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from tenant_seeds import RunMigrationsInput, TenantCtx, route_for_tenant

#: Bounded, so a refusal that wrongly comes back retryable ends the call (and fails the test)
#: after three quick attempts instead of hanging it.
RETRY = RetryPolicy(maximum_attempts=3, initial_interval=timedelta(milliseconds=200))
TIMEOUT = timedelta(seconds=30)


@dataclass
class ProvisionRequest:
    """``SeedsProvision``'s input: the tenant, and the routing the Rust worker is set up with."""

    ctx: TenantCtx
    namespace: str
    queue_prefix: str
    shards: int
    target_version: int = 3


@dataclass
class RustCall:
    """``SeedsCall``'s input: an activity, the route to send it on, and its payload: the seeds'
    ``RunMigrationsInput(ctx, target_version)`` when ``ctx`` is set, else ``raw`` as it is (for
    payloads no dataclass makes: unknown or mistyped fields)."""

    activity: str
    task_queue: str
    fairness_key: Optional[str] = None
    fairness_weight: Optional[float] = None
    ctx: Optional[TenantCtx] = None
    target_version: int = 3
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
        if call.ctx is not None:
            payload = RunMigrationsInput(ctx=call.ctx, target_version=call.target_version)
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


@activity.defn(name="seeds_run_migrations")
async def seeds_run_migrations(input: RunMigrationsInput) -> dict:
    """What a seeds activity sees of a Rust workflow's call: its own dataclasses, and the route."""
    info = activity.info()
    ctx = input.ctx
    return {
        "input_is_dataclass": isinstance(input, RunMigrationsInput),
        "ctx_is_dataclass": isinstance(ctx, TenantCtx),
        "tenant_id": ctx.tenant_id,
        "schema_name": ctx.schema_name,
        "plan": ctx.plan,
        "target_version": input.target_version,
        "task_queue": info.task_queue,
        "fairness_key": info.priority.fairness_key,
        "fairness_weight": info.priority.fairness_weight,
    }
