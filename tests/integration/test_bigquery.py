"""BigQuery: offline package checks always; a live load only when credentials exist."""

from __future__ import annotations

import os

import pytest

from ingest.load.run import Target, apply_destination_hints, make_pipeline, run_load
from ingest.simulator import SimulatorThread, Workspace
from ingest.source import make_source
from tests.integration.helpers import settings_for


def test_bigquery_package_has_partition_cluster_and_types(tmp_path):
    ws = Workspace.generate(size="tiny", seed=21)
    target = Target(
        destination="bigquery", dataset="slack_offline", pipelines_dir=str(tmp_path / "pl")
    )
    pipeline = make_pipeline(target)
    with SimulatorThread(ws, profile="unlimited") as sim:
        source = make_source(ws.token, settings_for(sim))
        apply_destination_hints(source, target)
        pipeline.extract(source)
    pipeline.normalize()
    assert pipeline.list_normalized_load_packages(), "a normalized package must exist"
    cols = pipeline.default_schema.tables["messages"]["columns"]
    assert cols["ts_at"]["data_type"] == "timestamp"
    assert cols["ts_at"].get("x-bigquery-partition") is True
    assert cols["channel_id"].get("x-bigquery-cluster") is True
    assert cols["ts"]["data_type"] == "text" and cols["thread_ts"]["data_type"] == "text"
    assert cols["blocks"]["data_type"] == "json"
    assert {c for c in cols if cols[c].get("primary_key")} == {"channel_id", "ts"}
    # the package's parquet files hold every message once
    import pyarrow.parquet as pq

    pkg = pipeline.get_load_package_info(pipeline.list_normalized_load_packages()[0])
    n = 0
    for jobs in pkg.jobs.values():
        for job in jobs:
            if job.job_file_info.table_name == "messages" and job.file_path.endswith(".parquet"):
                n += pq.read_metadata(job.file_path).num_rows
    assert n == len(ws.truth().messages)
    _check_breadth_tables(pipeline.default_schema.tables)


#: table -> (day-partition column, cluster columns, primary key): ingest/load/destinations.py
BREADTH = {
    "reactions": ("ts_at", ["channel_id", "name"], {"channel_id", "ts", "name", "user"}),
    "files": ("created", ["user"], {"id"}),
    "file_shares": (None, ["channel_id", "file_id"], {"file_id", "channel_id", "ts"}),
    "usergroups": (None, ["id"], {"id"}),
    "usergroup_members": (None, ["usergroup_id"], {"usergroup_id", "user_id"}),
}


def _check_breadth_tables(tables):
    for table, (partition, cluster, key) in BREADTH.items():
        t = tables[table]
        cols = t["columns"]
        assert {c for c in cols if cols[c].get("primary_key")} == key, table
        assert t.get("x-bigquery-cluster-columns") == cluster, table
        assert {c for c in cols if cols[c].get("x-bigquery-cluster")} == set(cluster), table
        parts = {c for c in cols if cols[c].get("x-bigquery-partition")}
        assert parts == ({partition} if partition else set()), table
        if partition:
            assert cols[partition]["data_type"] == "timestamp", table
        assert t["write_disposition"] == "merge", table
    # the tables a resource writes besides its own: replaced per parent (merge_key), with
    # dlt's hard_delete marker, and not the parent's columns
    for table, parent in (
        ("reactions", ("channel_id", "ts")),
        ("file_shares", ("file_id",)),
        ("usergroup_members", ("usergroup_id",)),
    ):
        cols = tables[table]["columns"]
        assert {c for c in cols if cols[c].get("merge_key")} == set(parent), table
        assert cols["_clear"].get("hard_delete") is True and cols["_clear"]["data_type"] == "bool"
    assert "blocks" not in tables["reactions"]["columns"]
    assert tables["reactions"]["columns"]["count"]["data_type"] == "bigint"
    for table, col in (("files", "created"), ("usergroups", "date_delete")):
        assert tables[table]["columns"][col]["data_type"] == "timestamp", table
    assert tables["files"]["columns"]["shares"]["data_type"] == "json"


@pytest.mark.live
@pytest.mark.skipif(
    not (
        os.environ.get("DESTINATION__BIGQUERY__CREDENTIALS__PROJECT_ID")
        or os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    ),
    reason="no BigQuery credentials configured",
)
def test_live_bigquery_load(tmp_path):  # pragma: no cover - needs credentials
    ws = Workspace.generate(size="tiny", seed=22)
    target = Target(
        destination="bigquery",
        dataset=f"slack_ingest_test_{os.getpid()}",
        pipelines_dir=str(tmp_path / "pl"),
    )
    with SimulatorThread(ws, profile="unlimited") as sim:
        run_load(ws.token, settings_for(sim), target)
    pipeline = make_pipeline(target)
    with pipeline.sql_client() as client:
        rows = client.execute_sql(
            "select count(*), count(distinct concat(channel_id, ts)) "
            f"from {target.dataset}.messages"
        )
        pipeline.drop()
    assert rows[0][0] == rows[0][1] == len(ws.truth().messages)
