#!/usr/bin/env python3
"""Independent reference of tenant's shard function, and the generator of shard_vectors.tsv.

shard = jump(fnv1a64(utf8(tenant_id)), shards): 64-bit FNV-1a, then Lamping & Veach's jump
consistent hash with 64-bit wrapping arithmetic. A port in any language should reproduce
shard_vectors.tsv (tenant_id, shards, shard), which tests/routing.rs checks the Rust side
against.

    cd tenant-core && python3 tests/data/shard_reference.py > tests/data/shard_vectors.tsv
"""

MASK = (1 << 64) - 1


def fnv1a64(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for byte in data:
        h = ((h ^ byte) * 0x100000001B3) & MASK
    return h


def jump(key: int, buckets: int) -> int:
    b, j = -1, 0
    while j < buckets:
        b = j
        key = (key * 2862933555777941757 + 1) & MASK
        j = int((b + 1) * (float(1 << 31) / float((key >> 33) + 1)))
    return b


def shard(tenant_id: str, shards: int) -> int:
    return jump(fnv1a64(tenant_id.encode("utf-8")), shards)


if __name__ == "__main__":
    ids = ["a", "acme", "globex", "initech", "umbrella", "tenant-1", "tenant-2", "0",
           "0b9a4c1e-3f5d-4a51-9d55-0f6f1c9c2a10", "x" * 63]
    ids += [f"t{i}" for i in range(40)]
    print("tenant_id\tshards\tshard")
    for tenant_id in ids:
        for shards in (1, 2, 3, 4, 5, 8, 16, 17, 64, 65, 1000):
            print(f"{tenant_id}\t{shards}\t{shard(tenant_id, shards)}")
