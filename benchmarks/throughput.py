"""`throughput`: the Arrow fast path vs dlt's default dict path, into DuckDB.

Full runs read every `CHANNEL_STRIDE`-th readable channel of `medium` (sorted by id; about
a quarter of its messages): dlt's dict path loads ~300-700 messages/s here, and the whole
of `medium` would take it ~10 minutes. Quick runs read all of `small`.

1. end to end: `ingest.load.run.run_load` (fetch from the simulator + extract + normalize +
   load, every resource) with `fast_path=True` and `fast_path=False` on the same workspace,
   limits and latency off. `*_msgs_per_s` = messages loaded / elapsed.
2. pipeline only: the same messages fetched once into memory (not timed), then only dlt's
   extract + normalize + load of a `messages` resource built like the loader's (same hints,
   batches, merge key), per path, with the time of each stage. This isolates what the fast
   path changes from what HTTP fetching costs.
"""

from __future__ import annotations

import asyncio
import gc
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import orjson

from benchmarks.common import ratio, reset_client_buckets
from benchmarks.fetch import backfill
from benchmarks.simproc import SimProcess

if TYPE_CHECKING:
    from dlt.common.schema.typing import TTableSchemaColumns

#: size -> take every n-th readable channel (1 = all)
SIZES = {False: ("medium", 4), True: ("small", 1)}
BATCH_ROWS = 5000


def _end_to_end(
    sim: SimProcess, fast: bool, workdir: Path, channel_ids: list[str]
) -> dict[str, Any]:
    from ingest.load.run import Target, run_load
    from ingest.source import LoadSettings

    name = "fast" if fast else "dict"
    target = Target(
        duckdb_path=str(workdir / f"e2e_{name}.duckdb"),
        dataset="slack",
        pipelines_dir=str(workdir / f"pipelines_e2e_{name}"),
    )
    settings = LoadSettings(
        base_url=sim.base_url, profile="unlimited", lookback_days=36500.0, fast_path=fast
    ).validate()
    reset_client_buckets()
    gc.collect()
    t0 = time.perf_counter()
    result = run_load(sim.token, settings, target, channel_ids=channel_ids)
    wall = time.perf_counter() - t0
    messages = int(result.row_counts.get("messages", 0))
    return {
        "wall_s": round(wall, 3),
        "messages": messages,
        "row_counts": result.row_counts,
        "msgs_per_s": round(messages / wall, 1),
    }


async def _prefetch(sim: SimProcess, channel_ids: list[str]) -> tuple[bytes, int, float]:
    from ingest.slack import AsyncSlackClient

    async with AsyncSlackClient(sim.token, base_url=sim.base_url, profile="unlimited") as client:
        result = await backfill(
            client.paginate, channel_concurrency=32, keep_rows=True, only_channels=channel_ids
        )
    rows = result.rows or []
    return orjson.dumps(rows), len(rows), result.wall_s


def _pipeline_only(blob: bytes, fast: bool, workdir: Path) -> dict[str, Any]:
    import dlt
    import duckdb

    from ingest.source import COLUMN_HINTS, message_to_row, messages_to_arrow

    rows: list[dict[str, Any]] = orjson.loads(blob)
    name = "fast" if fast else "dict"
    # the hints ingest.source.resources gives the messages resource on each path
    hints = cast(
        "TTableSchemaColumns",
        COLUMN_HINTS if fast else {"ts": {"data_type": "text"}, "thread_ts": {"data_type": "text"}},
    )

    @dlt.resource(
        name="messages", primary_key=("channel_id", "ts"), write_disposition="merge", columns=hints
    )
    def messages() -> Any:
        for i in range(0, len(rows), BATCH_ROWS):
            chunk = rows[i : i + BATCH_ROWS]
            yield messages_to_arrow(chunk) if fast else [message_to_row(r) for r in chunk]

    @dlt.source(name="slack", max_table_nesting=1)
    def source() -> Any:
        return [messages]

    db = workdir / f"pipe_{name}.duckdb"
    pipeline = dlt.pipeline(
        pipeline_name=f"bench_pipe_{name}",
        destination=dlt.destinations.duckdb(credentials=str(db)),
        dataset_name="slack",
        pipelines_dir=str(workdir / f"pipelines_{name}"),
    )
    gc.collect()
    t0 = time.perf_counter()
    pipeline.extract(source())
    t1 = time.perf_counter()
    pipeline.normalize()
    t2 = time.perf_counter()
    pipeline.load()
    t3 = time.perf_counter()
    con = duckdb.connect(str(db), read_only=True)
    try:
        loaded = con.execute("select count(*) from slack.messages").fetchone()[0]  # type: ignore[index]
    finally:
        con.close()
    return {
        "wall_s": round(t3 - t0, 3),
        "extract_s": round(t1 - t0, 3),
        "normalize_s": round(t2 - t1, 3),
        "load_s": round(t3 - t2, 3),
        "messages": int(loaded),
        "complete": int(loaded) == len(rows),
        "msgs_per_s": round(len(rows) / (t3 - t0), 1),
    }


def run(quick: bool) -> dict[str, Any]:
    from benchmarks.budget_use import fetch_readable_ids

    size, stride = SIZES[quick]
    out: dict[str, Any] = {"size": size, "channel_stride": stride}
    with (
        tempfile.TemporaryDirectory(prefix="bench-throughput-") as tmp,
        SimProcess(size, profile="unlimited") as sim,
    ):
        workdir = Path(tmp)
        readable = fetch_readable_ids(sim, "unlimited", 1.0)
        channel_ids = readable[::stride]
        out["channels"] = f"{len(channel_ids)} of {len(readable)} readable"
        fast = _end_to_end(sim, True, workdir, channel_ids)
        slow = _end_to_end(sim, False, workdir, channel_ids)
        out["end_to_end"] = {"fast": fast, "dict": slow}
        out["fast_msgs_per_s"] = fast["msgs_per_s"]
        out["dict_msgs_per_s"] = slow["msgs_per_s"]
        out["throughput_ratio"] = ratio(fast["msgs_per_s"], slow["msgs_per_s"], 2)

        blob, n, fetch_s = asyncio.run(_prefetch(sim, channel_ids))
        out["messages"] = n
        if stride == 1 and n != sim.messages:
            out["fetch_incomplete"] = f"fetched {n} of {sim.messages} messages"
        for path in (fast, slow):  # same channels, so the same messages
            path["complete"] = path["messages"] == n
        out["fetch_only"] = {
            "messages": n,
            "wall_s": round(fetch_s, 3),
            "msgs_per_s": round(n / fetch_s, 1) if fetch_s else None,
            "note": "HTTP fetch from the simulator alone (no dlt), 32 requests in flight",
        }
        out["fast_e2e_vs_fetch_only"] = ratio(
            fast["msgs_per_s"], out["fetch_only"]["msgs_per_s"], 2
        )
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        fast_p = _pipeline_only(blob, True, Path(tmp))
        dict_p = _pipeline_only(blob, False, Path(tmp))
    out["pipeline_only"] = {
        "note": "messages pre-fetched into memory once; timed: dlt extract (incl. the path's "
        "row conversion: messages_to_arrow or message_to_row) + normalize + load into "
        "DuckDB. fast = Arrow tables, dict = dlt's default relational normalizer",
        "fast": fast_p,
        "dict": dict_p,
        "pipeline_fast_msgs_per_s": fast_p["msgs_per_s"],
        "pipeline_dict_msgs_per_s": dict_p["msgs_per_s"],
        "pipeline_ratio": ratio(fast_p["msgs_per_s"], dict_p["msgs_per_s"], 2),
        "normalize_ratio": ratio(dict_p["normalize_s"], fast_p["normalize_s"], 2),
    }
    return out
