"""The seeds' tenant contract, written against the rules of the Rust crate `tenant`.

What crosses a Temporal wire between the seeds' Python workers and Rust `#[tenant::activities]`
workers, and how both sides pick a task queue and a priority for a tenant's work:

- ``TenantCtx``: the seeds' frozen dataclass. The Python SDK writes it as
  ``{"plan": null, "schema_name": "tenant_acme", "tenant_id": "acme"}``; the Rust side reads that
  as a ``TenantClaim`` and trusts only ``tenant_id``, once its registry vouched for it (schema and
  plan come from the registry).
- ``RunMigrationsInput``: an activity input holding the tenant, as the seeds' inputs do: since the
  Rust workers refuse unsigned claims, its ``ctx`` is a ``SignedClaim`` (``tenant_seeds.signing``)
  that the seeds' request boundary or workflow starter signed from a ``TenantCtx`` it verified.
- ``PLAN_WEIGHTS`` and ``plan_weight``: the fairness weight of a plan (an unknown or absent plan
  weighs 1, as ``PLAN_WEIGHTS.get(plan or "free", 1)``), clamped to Temporal's range.
- ``task_queue_name``, ``shard_for`` and ``route_for_tenant``: the same task queue and priority as
  the Rust crate's ``tenant::routing``. The shard function is the Rust crate's, fixed for good:
  ``jump(fnv1a64(utf8(tenant_id)), shards)`` (64-bit FNV-1a, then Lamping and Veach's jump
  consistent hash), checked against ``tenant-core/tests/data/shard_vectors.tsv``.

Plain Python, no dependency: the Temporal-specific half is ``tenant_seeds.workflows``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping, Optional

from tenant_seeds.signing import SignedClaim, SigningKeys, sign_claim, verify_claim

__all__ = [
    "PLAN_WEIGHTS",
    "Route",
    "RunMigrationsInput",
    "SignedClaim",
    "SigningKeys",
    "TenantCtx",
    "sign_claim",
    "verify_claim",
    "fnv1a64",
    "is_tenant_id",
    "jump_consistent_hash",
    "plan_weight",
    "route_for_tenant",
    "shard_for",
    "task_queue_name",
]


@dataclass(frozen=True)
class TenantCtx:
    """The seeds' tenant context, field for field (order, types and default).

    Not validated here: the seeds build it everywhere, and the worker that receives it is where it
    is checked (the Rust worker refuses an invalid id, an unknown or inactive tenant, or a schema
    that is not the registry's). ``route_for_tenant`` does check the id, as the Rust side can only
    route a valid one.
    """

    tenant_id: str
    schema_name: str
    plan: Optional[str] = None


@dataclass(frozen=True)
class RunMigrationsInput:
    """The seeds' migration activity input: the signed claim of the tenant and the schema
    version to reach."""

    ctx: SignedClaim
    target_version: int


#: The default fairness weight of each plan: the Rust crate's ``PlanWeights::default()``.
PLAN_WEIGHTS: Mapping[str, float] = {"free": 1.0, "pro": 3.0, "enterprise": 10.0}

#: Temporal's accepted range of fairness weights; weights outside it are clamped, as in Rust.
FAIRNESS_WEIGHT_MIN = 0.001
FAIRNESS_WEIGHT_MAX = 1000.0

#: The Rust crate's tenant id grammar: a lowercase DNS label, at most 63 bytes.
_TENANT_ID = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?")
TENANT_ID_MAX_LEN = 63


def is_tenant_id(tenant_id: str) -> bool:
    """Whether ``tenant_id`` is valid under the Rust crate's grammar."""
    return len(tenant_id) <= TENANT_ID_MAX_LEN and _TENANT_ID.fullmatch(tenant_id) is not None


def plan_weight(plan: Optional[str], weights: Mapping[str, float] = PLAN_WEIGHTS) -> float:
    """The fairness weight of ``plan``: ``weights.get(plan or "free", 1)``, clamped."""
    weight = float(weights.get(plan or "free", 1.0))
    return min(max(weight, FAIRNESS_WEIGHT_MIN), FAIRNESS_WEIGHT_MAX)


_MASK64 = (1 << 64) - 1


def fnv1a64(data: bytes) -> int:
    """64-bit FNV-1a over ``data`` (offset basis 0xcbf29ce484222325, prime 0x100000001b3)."""
    h = 0xCBF29CE484222325
    for byte in data:
        h = ((h ^ byte) * 0x100000001B3) & _MASK64
    return h


def jump_consistent_hash(key: int, buckets: int) -> int:
    """Lamping and Veach's jump consistent hash, with 64-bit wrapping arithmetic."""
    if buckets < 1:
        raise ValueError("buckets must be at least 1")
    b, j = -1, 0
    while j < buckets:
        b = j
        key = (key * 2862933555777941757 + 1) & _MASK64
        j = int((b + 1) * (float(1 << 31) / float((key >> 33) + 1)))
    return b


def shard_for(tenant_id: str, shards: int) -> int:
    """The shard of ``tenant_id`` among ``shards``, in ``range(shards)``: Rust's ``shard_for``."""
    return jump_consistent_hash(fnv1a64(tenant_id.encode("utf-8")), shards)


def task_queue_name(prefix: str, kind: str, shard: int) -> str:
    """The task queue ``{prefix}-{kind}-{shard}``; ``kind`` is ``"workflow"`` or ``"activity"``."""
    if kind not in ("workflow", "activity"):
        raise ValueError(f"kind must be 'workflow' or 'activity', not {kind!r}")
    return f"{prefix}-{kind}-{shard}"


@dataclass(frozen=True)
class Route:
    """Where and how a tenant's work runs: Rust's ``Route``, flattened."""

    namespace: str
    task_queue: str
    #: The tenant id: tasks of one tenant share one fair slice of the queue.
    fairness_key: str
    #: The plan's weight.
    fairness_weight: float


def route_for_tenant(
    ctx: "TenantCtx | SignedClaim",
    namespace: str,
    prefix: str,
    shards: int,
    kind: str = "activity",
    weights: Mapping[str, float] = PLAN_WEIGHTS,
) -> Route:
    """The route of ``ctx``'s work of ``kind`` (a context, or a signed claim: its signed plan
    sets the weight): what Rust's ``Routing::route`` (or, from a signed claim,
    ``Routing::route_claim``) gives, so that a Rust worker routed with the same namespace,
    prefix and shard count accepts the task. Raises ``ValueError`` for an invalid tenant id."""
    if not is_tenant_id(ctx.tenant_id):
        raise ValueError("not a valid tenant id")
    shard = shard_for(ctx.tenant_id, shards)
    return Route(
        namespace=namespace,
        task_queue=task_queue_name(prefix, kind, shard),
        fairness_key=ctx.tenant_id,
        fairness_weight=plan_weight(ctx.plan, weights),
    )
