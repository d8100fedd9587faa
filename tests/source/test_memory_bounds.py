"""What keeps a load's memory flat: DuckDB opened with a capped buffer pool, every DuckDB
table loaded from Parquet, repeated keys dropped before dlt (so DuckDB merges without its
de-duplication window), and freed heap handed back between phases."""

from __future__ import annotations

import sys

import psutil
import pytest

from ingest.load.memory import trim_heap
from ingest.load.run import (
    DEFAULT_DUCKDB_MEMORY_LIMIT,
    MEMORY_RETRIES,
    Target,
    check_target,
    load_options,
    make_pipeline,
    memory_size_bytes,
    raised_memory_limit,
)
from ingest.source.settings import ConfigError
from ingest.source.slices import new_rows


def test_duckdb_is_opened_with_the_targets_memory_limit(tmp_path):
    target = Target(
        duckdb_path=str(tmp_path / "m.duckdb"),
        dataset="d",
        pipelines_dir=str(tmp_path / "p"),
        duckdb_memory_limit="48MB",
    )
    pipeline = make_pipeline(target)
    with pipeline.sql_client() as client:
        limit = client.execute_sql("SELECT current_setting('memory_limit')")[0][0]
        order = client.execute_sql("SELECT current_setting('preserve_insertion_order')")[0][0]
        threads = client.execute_sql("SELECT current_setting('threads')")[0][0]
    # DuckDB reports the limit in MiB (48 MB = 45.7 MiB)
    assert limit.replace(" ", "").startswith("45.7MiB"), limit
    assert order is False
    assert threads == 1  # a lean cap: one thread (two OOM at 32 MB on 50k-row slices)


def test_a_roomy_limit_keeps_duckdbs_threads(tmp_path):
    target = Target(
        duckdb_path=str(tmp_path / "m.duckdb"),
        dataset="d",
        pipelines_dir=str(tmp_path / "p"),
        duckdb_memory_limit="1GB",
    )
    with make_pipeline(target).sql_client() as client:
        threads = client.execute_sql("SELECT current_setting('threads')")[0][0]
    import duckdb

    own = duckdb.connect().execute("SELECT current_setting('threads')").fetchone()[0]
    assert threads == own, (threads, own)


def test_out_of_memory_raises_the_limit_twice_at_most_three_times():
    oom = RuntimeError("Out of Memory Error: could not allocate block of size 256.0 KiB")
    target = Target(duckdb_memory_limit="32MB")
    assert DEFAULT_DUCKDB_MEMORY_LIMIT == "32MB"
    raised = raised_memory_limit(target, oom, MEMORY_RETRIES)
    assert raised is not None and raised.duckdb_memory_limit == "64MB"
    small = raised_memory_limit(Target(duckdb_memory_limit="256KB"), oom, 1)
    assert small is not None and small.duckdb_memory_limit == "512KB"  # not "0MB"
    assert raised_memory_limit(target, oom, 0) is None  # retries used up
    assert raised_memory_limit(target, RuntimeError("disk full"), 3) is None  # not memory
    assert raised_memory_limit(Target(duckdb_memory_limit="default"), oom, 3) is None
    assert raised_memory_limit(Target(destination="bigquery"), oom, 3) is None
    assert memory_size_bytes("1.5GB") == 1_500_000_000 and memory_size_bytes("2 MiB") == 2**21


def test_default_memory_limit_is_duckdbs_own_when_asked(tmp_path):
    target = Target(
        duckdb_path=str(tmp_path / "m.duckdb"),
        dataset="d",
        pipelines_dir=str(tmp_path / "p"),
        duckdb_memory_limit="default",
    )
    with make_pipeline(target).sql_client() as client:
        limit = client.execute_sql("SELECT current_setting('memory_limit')")[0][0]
    assert "GiB" in limit, limit  # 80% of this machine's RAM, not a few MB


@pytest.mark.parametrize("bad", ["", "lots", "64", "MB", "-5MB"])
def test_bad_memory_limits_are_config_errors(tmp_path, bad):
    with pytest.raises(ConfigError, match="duckdb_memory_limit"):
        check_target(Target(duckdb_path=str(tmp_path / "m.duckdb"), duckdb_memory_limit=bad))


def test_duckdb_loads_every_table_from_parquet():
    extract, _ = load_options(Target())
    assert extract == {"loader_file_format": "parquet"}
    assert load_options(Target(destination="bigquery")) == ({}, {})


def test_repeated_keys_in_a_slice_are_dropped_first_read_wins():
    keys: set[tuple[str, str]] = set()
    first = new_rows(
        [
            {"channel_id": "C1", "ts": "1.000001", "text": "a"},
            {"channel_id": "C2", "ts": "1.000001", "text": "b"},
        ],
        keys,
    )
    again = new_rows(
        [
            {"channel_id": "C1", "ts": "1.000001", "text": "a2"},
            {"channel_id": "C1", "ts": "2.000001", "text": "c"},
            {"channel_id": "C1", "ts": "2.000001", "text": "c2"},
        ],
        keys,
    )
    assert [r["text"] for r in first] == ["a", "b"]
    assert [r["text"] for r in again] == ["c"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_trim_heap_gives_freed_memory_back():
    """~300 MB of heap blocks freed with a few survivors spread among them: glibc keeps the
    pages (measured: ~1 MB returned without the trim), trim_heap returns them."""
    proc = psutil.Process()
    blob = [bytes(2000) + str(i).encode() for i in range(150_000)]
    survivors = blob[::50]
    held = proc.memory_info().rss
    del blob
    trim_heap()
    assert held - proc.memory_info().rss > 150 * 1024 * 1024
    assert len(survivors) == 3000
