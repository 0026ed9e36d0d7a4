"""The Python port of signed claims against the Rust crate's shared vectors
(``tenant-core/tests/data/claim_vectors.json``): the same bytes, the same tags, the same
refusals.

    cd examples/interop/python && python3 -m unittest discover -s tests
"""

import dataclasses
import json
import pathlib
import unittest

from tenant_seeds.signing import (
    ClaimRefused,
    SigningKeys,
    claim_mac_input,
    sign_claim,
    sign_system_token,
    token_mac_input,
    verify_claim,
    verify_system_token,
)

REPO = pathlib.Path(__file__).resolve().parents[4]
VECTORS = json.loads((REPO / "tenant-core" / "tests" / "data" / "claim_vectors.json").read_text())
KEYS = SigningKeys.parse(VECTORS["keys"])
NOW = VECTORS["now"]
AUDIENCE = VECTORS["audience"]


class ClaimVectors(unittest.TestCase):
    def test_signing_reproduces_every_claim(self):
        self.assertGreaterEqual(len(VECTORS["claims"]), 3)
        for case in VECTORS["claims"]:
            with self.subTest(case["name"]):
                f = case["fields"]
                claim = sign_claim(
                    KEYS,
                    f["tenant_id"],
                    f["schema_name"],
                    f["plan"],
                    f["namespace"],
                    f["queue_prefix"],
                    case["lifetime_secs"],
                    now=NOW,
                )
                self.assertEqual(claim_mac_input(claim).hex(), case["mac_input_hex"])
                self.assertEqual(dataclasses.asdict(claim), case["json"])
                verify_claim(KEYS, case["json"], f["namespace"], f["queue_prefix"], now=NOW)

    def test_signing_reproduces_every_system_token(self):
        for case in VECTORS["system_tokens"]:
            with self.subTest(case["name"]):
                f = case["fields"]
                token = sign_system_token(
                    KEYS, f["reason"], f["namespace"], f["queue_prefix"], case["lifetime_secs"], now=NOW
                )
                self.assertEqual(token_mac_input(token).hex(), case["mac_input_hex"])
                self.assertEqual(dataclasses.asdict(token), case["json"])

    def test_every_tampered_vector_is_refused_for_its_reason(self):
        self.assertGreaterEqual(len(VECTORS["tampered"]), 10)
        for case in VECTORS["tampered"]:
            with self.subTest(case["name"]):
                with self.assertRaises(ClaimRefused) as refused:
                    if case["kind"] == "claim":
                        verify_claim(KEYS, case["json"], AUDIENCE["namespace"], AUDIENCE["queue_prefix"], now=NOW)
                    else:
                        verify_system_token(
                            KEYS,
                            case["json"],
                            AUDIENCE["namespace"],
                            AUDIENCE["queue_prefix"],
                            VECTORS["reason"],
                            now=NOW,
                        )
                self.assertEqual(refused.exception.kind, case["error"])
        for case in VECTORS["accepted"]:
            with self.subTest(case["name"]):
                verify_claim(KEYS, case["json"], AUDIENCE["namespace"], AUDIENCE["queue_prefix"], now=NOW)

    def test_keys_never_show_and_bad_keys_are_refused(self):
        self.assertNotIn(VECTORS["keys"].split(":")[1][:12], repr(KEYS))
        for bad in ["", "claims1", "claims1:c2hvcnQ=", "k d:" + VECTORS["keys"].split(":")[1]]:
            with self.subTest(bad=bad):
                with self.assertRaises(ValueError):
                    SigningKeys.parse(bad)
        with self.assertRaises(ValueError):
            sign_claim(KEYS, "acme", "tenant_acme", None, "default", "p", 0)


if __name__ == "__main__":
    unittest.main()
