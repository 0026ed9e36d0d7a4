"""The Python port of the contract against the Rust crate's own data: the shard vectors, the
task queue names, the plan weights and the context's JSON.

    cd examples/interop/python && python3 -m unittest discover -s tests
"""

import csv
import dataclasses
import json
import pathlib
import unittest

from tenant_seeds import (
    PLAN_WEIGHTS,
    RunMigrationsInput,
    SigningKeys,
    TenantCtx,
    sign_claim,
    fnv1a64,
    is_tenant_id,
    plan_weight,
    route_for_tenant,
    shard_for,
    task_queue_name,
)

REPO = pathlib.Path(__file__).resolve().parents[4]
VECTORS = REPO / "tenant-core" / "tests" / "data" / "shard_vectors.tsv"


class ShardVectors(unittest.TestCase):
    def test_every_vector(self):
        with VECTORS.open(newline="") as file:
            rows = list(csv.DictReader(file, delimiter="\t"))
        self.assertGreater(len(rows), 500, "the vector file is the Rust crate's, not a stub")
        for row in rows:
            with self.subTest(**row):
                self.assertEqual(
                    shard_for(row["tenant_id"], int(row["shards"])), int(row["shard"])
                )

    def test_fnv_published_vectors(self):
        self.assertEqual(fnv1a64(b""), 0xCBF29CE484222325)
        self.assertEqual(fnv1a64(b"a"), 0xAF63DC4C8601EC8C)
        self.assertEqual(fnv1a64(b"foobar"), 0x85944171F73967E8)


class Routing(unittest.TestCase):
    def test_task_queue_name(self):
        self.assertEqual(task_queue_name("tenants", "activity", 3), "tenants-activity-3")
        with self.assertRaises(ValueError):
            task_queue_name("tenants", "activities", 3)

    def test_plan_weights(self):
        self.assertEqual(dict(PLAN_WEIGHTS), {"free": 1.0, "pro": 3.0, "enterprise": 10.0})
        self.assertEqual(plan_weight(None), 1.0)
        self.assertEqual(plan_weight("enterprise"), 10.0)
        self.assertEqual(plan_weight("platinum"), 1.0)
        self.assertEqual(plan_weight("pro", {"pro": 5000.0}), 1000.0)

    def test_route_for_tenant(self):
        ctx = TenantCtx("acme", "tenant_acme", "enterprise")
        route = route_for_tenant(ctx, "default", "provisioning", 2)
        # acme is on shard 0 of 2 (shard_vectors.tsv).
        self.assertEqual(route.task_queue, "provisioning-activity-0")
        self.assertEqual(route.fairness_key, "acme")
        self.assertEqual(route.fairness_weight, 10.0)
        workflow = route_for_tenant(TenantCtx("globex", "tenant_globex"), "default", "p", 2, "workflow")
        self.assertEqual(workflow.task_queue, "p-workflow-1")
        self.assertEqual(workflow.fairness_weight, 1.0)

    def test_invalid_ids_are_not_routed(self):
        for bad in ["", "ACME", "acme'; --", "-acme", "acme-", "x" * 64, "acmé"]:
            with self.subTest(bad=bad):
                self.assertFalse(is_tenant_id(bad))
                with self.assertRaises(ValueError):
                    route_for_tenant(TenantCtx(bad, "tenant_x"), "default", "p", 2)
        self.assertTrue(is_tenant_id("x" * 63))
        self.assertTrue(is_tenant_id("0b9a4c1e-3f5d-4a51-9d55-0f6f1c9c2a10"))


class WireShape(unittest.TestCase):
    def test_the_context_is_the_signed_claim_json(self):
        # What the Python SDK's JSON converter writes (it sorts keys), and the Rust worker reads.
        keys = SigningKeys.parse("claims1:tlL9C3QBIVlBWxotkSiN2fBkFH9h2Y3eQ+jLNdhOimU=")
        claim = sign_claim(keys, "acme", "tenant_acme", None, "default", "p", 60, now=1764100000)
        payload = RunMigrationsInput(ctx=claim, target_version=3)
        self.assertEqual(
            json.dumps(dataclasses.asdict(payload), sort_keys=True, separators=(",", ":")),
            '{"ctx":{"expires_at":1764100060,"key_id":"claims1","namespace":"default",'
            '"plan":"free","queue_prefix":"p","schema_name":"tenant_acme",'
            f'"signature":"{claim.signature}","tenant_id":"acme"}},"target_version":3}}',
        )
        # A signed claim routes like its context, with its signed plan's weight.
        self.assertEqual(route_for_tenant(claim, "default", "p", 2).fairness_weight, 1.0)

    def test_the_context_is_frozen(self):
        ctx = TenantCtx("acme", "tenant_acme")
        with self.assertRaises(dataclasses.FrozenInstanceError):
            ctx.tenant_id = "globex"  # type: ignore[misc]


if __name__ == "__main__":
    unittest.main()
