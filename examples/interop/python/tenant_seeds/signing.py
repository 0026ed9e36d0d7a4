"""Signed claims and system tokens: the Python port of the Rust crate's ``tenant::signed``.

A Rust worker runs a tenant activity only for a claim a holder of a claim-signing key minted
(``sign_claim``), for its audience (namespace and task-queue prefix) and until an expiry; a system
activity only for a system token of its reason (``sign_system_token``). This module signs and
verifies the same bytes as the Rust crate, checked against the shared vectors in
``tenant-core/tests/data/claim_vectors.json``:

    tag = HMAC-SHA256(key[key_id], "tenant/claim/v1\\0"
                      + framed(key_id) + framed(tenant_id) + framed(schema_name) + framed(plan)
                      + framed(namespace) + framed(queue_prefix) + u64be(expires_at))

where ``framed(s)`` is ``u64be(len(utf8(s))) + utf8(s)``; a system token's domain is
``"tenant/system/v1\\0"`` and its fields ``key_id, reason, namespace, queue_prefix``. The tag
travels as standard, padded base64. Verification checks the signature first (by key id, in
constant time), then the expiry (with ``CLOCK_SKEW_LEEWAY`` seconds of leeway), then the audience
(and a token's reason).

Keys are configuration text, as in Rust: ``key_id:base64_key`` entries separated by commas, the
signing key first, every entry accepted (rotation: add the new key as accepted, make it current,
drop the old one once every claim it signed has expired).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import struct
import time
from dataclasses import asdict, dataclass
from typing import Any, Mapping, Optional

__all__ = [
    "CLOCK_SKEW_LEEWAY",
    "ClaimRefused",
    "SignedClaim",
    "SigningKeys",
    "SystemToken",
    "claim_mac_input",
    "sign_claim",
    "sign_system_token",
    "token_mac_input",
    "verify_claim",
    "verify_system_token",
]

#: Seconds a claim is still accepted after its expiry: the signer's and the worker's clocks may
#: disagree by this much.
CLOCK_SKEW_LEEWAY = 60
CLAIM_DOMAIN = b"tenant/claim/v1\0"
SYSTEM_DOMAIN = b"tenant/system/v1\0"
MIN_KEY_LEN = 32
_KEY_ID = re.compile(r"[A-Za-z0-9_.\-]{1,64}")


class ClaimRefused(Exception):
    """A claim or token that does not verify. ``kind`` is one of ``unknown_key_id``,
    ``signature``, ``expired``, ``audience``, ``reason`` or ``malformed``: the names the shared
    vectors use."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class SigningKeys:
    """A key ring: the current key (the first entry) signs, every entry is accepted."""

    def __init__(self, entries: list[tuple[str, bytes]]) -> None:
        if not entries:
            raise ValueError("no signing key")
        self._keys: dict[str, bytes] = {}
        for key_id, key in entries:
            if not _KEY_ID.fullmatch(key_id):
                raise ValueError("a key id is 1 to 64 ASCII letters, digits, '_', '-' or '.'")
            if len(key) < MIN_KEY_LEN:
                raise ValueError(f"signing key {key_id!r}: {len(key)} bytes, at least 32 needed")
            if key_id in self._keys:
                raise ValueError(f"signing key id {key_id!r} given twice")
            self._keys[key_id] = key
        self.current_key_id = entries[0][0]

    @classmethod
    def parse(cls, text: str) -> "SigningKeys":
        """``key_id:base64_key`` entries separated by commas, the signing key first."""
        entries = []
        for position, entry in enumerate(text.split(","), start=1):
            key_id, sep, encoded = entry.strip().partition(":")
            if not sep:
                raise ValueError(f"signing key entry {position}: expected `key_id:base64_key`")
            try:
                key = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError):
                raise ValueError(f"signing key {key_id!r}: not standard (padded) base64") from None
            entries.append((key_id, key))
        return cls(entries)

    def __repr__(self) -> str:  # never a key
        return f"SigningKeys(current={self.current_key_id!r}, accepted={sorted(self._keys)!r})"

    def sign(self, message: bytes) -> bytes:
        return hmac.new(self._keys[self.current_key_id], message, hashlib.sha256).digest()

    def verify(self, key_id: str, message: bytes, tag: bytes) -> None:
        key = self._keys.get(key_id)
        if key is None:
            raise ClaimRefused("unknown_key_id", "signed with an unknown key id")
        expected = hmac.new(key, message, hashlib.sha256).digest()
        if not hmac.compare_digest(expected, tag):
            raise ClaimRefused("signature", "the signature does not verify")


def _framed(text: str) -> bytes:
    data = text.encode("utf-8")
    return struct.pack(">Q", len(data)) + data


def _canonical(domain: bytes, fields: list[str], expires_at: int) -> bytes:
    return domain + b"".join(_framed(field) for field in fields) + struct.pack(">Q", expires_at)


@dataclass(frozen=True)
class SignedClaim:
    """A tenant claim signed by a key holder: what a Rust activity input's ``ctx`` is."""

    tenant_id: str
    schema_name: str
    plan: str
    namespace: str
    queue_prefix: str
    expires_at: int
    key_id: str
    signature: str


@dataclass(frozen=True)
class SystemToken:
    """A signed permission to run the system activity of one reason."""

    reason: str
    namespace: str
    queue_prefix: str
    expires_at: int
    key_id: str
    signature: str


def claim_mac_input(claim: SignedClaim) -> bytes:
    """The bytes a claim's tag is the MAC of."""
    return _canonical(
        CLAIM_DOMAIN,
        [
            claim.key_id,
            claim.tenant_id,
            claim.schema_name,
            claim.plan,
            claim.namespace,
            claim.queue_prefix,
        ],
        claim.expires_at,
    )


def token_mac_input(token: SystemToken) -> bytes:
    """The bytes a system token's tag is the MAC of."""
    return _canonical(
        SYSTEM_DOMAIN,
        [token.key_id, token.reason, token.namespace, token.queue_prefix],
        token.expires_at,
    )


def _expiry(lifetime: int, now: Optional[int]) -> int:
    if lifetime < 1:
        raise ValueError("a signed claim needs a lifetime of at least one second")
    return (int(time.time()) if now is None else now) + lifetime


def sign_claim(
    keys: SigningKeys,
    tenant_id: str,
    schema_name: str,
    plan: Optional[str],
    namespace: str,
    queue_prefix: str,
    lifetime: int,
    now: Optional[int] = None,
) -> SignedClaim:
    """A claim for a tenant the caller verified, for ``namespace``/``queue_prefix``, expiring
    ``lifetime`` seconds from ``now`` (the clock when ``None``). No plan means ``free``."""
    unsigned = SignedClaim(
        tenant_id=tenant_id,
        schema_name=schema_name,
        plan=plan or "free",
        namespace=namespace,
        queue_prefix=queue_prefix,
        expires_at=_expiry(lifetime, now),
        key_id=keys.current_key_id,
        signature="",
    )
    tag = keys.sign(claim_mac_input(unsigned))
    return SignedClaim(**{**asdict(unsigned), "signature": base64.b64encode(tag).decode()})


def sign_system_token(
    keys: SigningKeys,
    reason: str,
    namespace: str,
    queue_prefix: str,
    lifetime: int,
    now: Optional[int] = None,
) -> SystemToken:
    """A token for the system activity of ``reason``."""
    unsigned = SystemToken(
        reason=reason,
        namespace=namespace,
        queue_prefix=queue_prefix,
        expires_at=_expiry(lifetime, now),
        key_id=keys.current_key_id,
        signature="",
    )
    tag = keys.sign(token_mac_input(unsigned))
    return SystemToken(**{**asdict(unsigned), "signature": base64.b64encode(tag).decode()})


def _read(cls: Any, value: Any) -> Any:
    """``value`` (a mapping or the dataclass) as ``cls``, with exactly its fields and types."""
    if isinstance(value, cls):
        return value
    if not isinstance(value, Mapping):
        raise ClaimRefused("malformed", f"expected an object, found {type(value).__name__}")
    names = [field for field in cls.__dataclass_fields__]
    if set(value) != set(names):
        raise ClaimRefused("malformed", f"expected exactly the fields {sorted(names)}")
    for name in names:
        expected = int if name == "expires_at" else str
        if type(value[name]) is not expected or (expected is int and value[name] < 0):
            raise ClaimRefused("malformed", f"`{name}` has the wrong type")
    return cls(**{name: value[name] for name in names})


def _tag(signature: str) -> bytes:
    try:
        tag = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        tag = b""
    if len(tag) != 32:
        raise ClaimRefused("malformed", "a signature is standard, padded base64 of 32 bytes")
    return tag


def _check_expiry(expires_at: int, now: Optional[int]) -> None:
    now = int(time.time()) if now is None else now
    if now > expires_at + CLOCK_SKEW_LEEWAY:
        raise ClaimRefused("expired", "the claim has expired")


def verify_claim(
    keys: SigningKeys,
    claim: Any,
    namespace: str,
    queue_prefix: str,
    now: Optional[int] = None,
) -> SignedClaim:
    """The claim, if its signature verifies under an accepted key, it has not expired and it is
    for ``namespace``/``queue_prefix``; else ``ClaimRefused``. The registry is the caller's."""
    claim = _read(SignedClaim, claim)
    keys.verify(claim.key_id, claim_mac_input(claim), _tag(claim.signature))
    _check_expiry(claim.expires_at, now)
    if (claim.namespace, claim.queue_prefix) != (namespace, queue_prefix):
        raise ClaimRefused("audience", "the claim is for another audience")
    return claim


def verify_system_token(
    keys: SigningKeys,
    token: Any,
    namespace: str,
    queue_prefix: str,
    reason: str,
    now: Optional[int] = None,
) -> SystemToken:
    """The token, if it verifies as a claim does and names ``reason``; else ``ClaimRefused``."""
    token = _read(SystemToken, token)
    keys.verify(token.key_id, token_mac_input(token), _tag(token.signature))
    _check_expiry(token.expires_at, now)
    if (token.namespace, token.queue_prefix) != (namespace, queue_prefix):
        raise ClaimRefused("audience", "the token is for another audience")
    if token.reason != reason:
        raise ClaimRefused("reason", "the system token is for another reason")
    return token


def main(argv: Optional[list[str]] = None) -> None:
    """``python -m tenant_seeds.signing --tenant-id acme --schema-name tenant_acme --plan pro
    --namespace default --queue-prefix provisioning --lifetime 3600`` prints a claim signed with
    the keys in ``CLAIM_SIGNING_KEYS``: what a seeds request boundary or workflow starter does for
    a tenant (and user) it has verified."""
    import argparse
    import json
    import os
    import sys

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--tenant-id", required=True)
    parser.add_argument("--schema-name", required=True)
    parser.add_argument("--plan")
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--queue-prefix", required=True)
    parser.add_argument("--lifetime", type=int, default=3600)
    args = parser.parse_args(argv)
    keys = SigningKeys.parse(os.environ["CLAIM_SIGNING_KEYS"])
    claim = sign_claim(
        keys,
        args.tenant_id,
        args.schema_name,
        args.plan,
        args.namespace,
        args.queue_prefix,
        args.lifetime,
    )
    json.dump(asdict(claim), sys.stdout)
    print()


if __name__ == "__main__":
    main()
