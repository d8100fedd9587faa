"""Keeping a load's resident memory flat in workspace size.

A load alternates two phases in one process: the fetch + extract (Python dicts, Arrow
batches) and the DuckDB load. Each phase frees what it used, but freed memory is not
handed back to the OS by default, so the next phase stacks on top of the last one's
high-water mark. Measured on `medium` (benchmarks/README.md, "memory"), these are the
levers that keep the peak at a fixed size whatever the workspace:

- glibc keeps one heap arena per thread that ever allocated (the fan-out loop, dlt's
  extract, DuckDB's workers) and returns memory only on `malloc_trim`: cap the arenas and
  trim between phases.
- pyarrow allocates from mimalloc, which keeps freed pages for reuse by Arrow alone:
  Arrow buffers go to the system allocator instead, so they share the trimmed heap
  (`ingest/__init__.py` picks it before pyarrow is imported).
- DuckDB's buffer pool grows to `memory_limit` (80% of RAM by default) and its
  checkpoint on close fills it: the destination gets an explicit, small limit
  (`Target.duckdb_memory_limit`), spilling to disk beyond it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from functools import lru_cache
from typing import Any

_M_ARENA_MAX = -8  # glibc's mallopt parameter number


@lru_cache(maxsize=1)
def _libc() -> Any | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim  # noqa: B018 - glibc only (musl lacks it)
        libc.mallopt  # noqa: B018
    except (OSError, AttributeError):
        return None
    return libc


def tune_process_memory(arenas: int = 2) -> None:
    """Process-wide, once per load: cap glibc's per-thread heap arenas (as MALLOC_ARENA_MAX
    would; threads share the capped arenas, so memory one phase frees is reused by the
    next)."""
    libc = _libc()
    if libc is not None:
        libc.mallopt(_M_ARENA_MAX, arenas)


def trim_heap() -> None:
    """Hand freed heap pages back to the OS (glibc's malloc_trim). No gc.collect(): a
    Ctrl-C landing in a collection's weakref callbacks is swallowed by Python."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
