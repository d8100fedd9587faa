"""Stable assignment of channels to shards.

A channel's shard depends only on its id and the shard count (sha1, not Python's salted
`hash()`), so every process and every run agrees, and adding a channel moves no other one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable


def shard_of(channel_id: str, n_shards: int) -> int:
    if n_shards < 1:
        raise ValueError("n_shards must be >= 1")
    digest = hashlib.sha1(channel_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % n_shards


def assign_shards(channel_ids: Iterable[str], n_shards: int) -> list[list[str]]:
    """Channel ids per shard (index = shard), each list sorted."""
    shards: list[list[str]] = [[] for _ in range(n_shards)]
    for cid in sorted(set(channel_ids)):
        shards[shard_of(cid, n_shards)].append(cid)
    return shards


def shard_name(index: int, n_shards: int) -> str:
    """The dlt pipeline suffix of a shard (`Target.pipeline_name(shard)`)."""
    return f"shard{index}of{n_shards}"
