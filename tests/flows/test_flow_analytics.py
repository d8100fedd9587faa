"""The flow builds the analytics models after the load and publishes what they found."""

from __future__ import annotations

import duckdb
import pytest

from ingest.load.run import Target, make_pipeline
from ingest.simulator import SimulatorThread, Workspace
from tests.flows.helpers import run_flow

pytest.importorskip("dbt.adapters.duckdb", reason="the models extra is not installed")


def test_flow_builds_the_models_and_publishes_their_figures(tmp_path, token_env):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    from ingest.analytics.figures import figures_markdown, read_figures, summary_lines

    ws = Workspace.generate(size="tiny", seed=17)
    target = Target(
        duckdb_path=str(tmp_path / "warehouse.duckdb"), pipelines_dir=str(tmp_path / "pipes")
    )
    token_env(ws.token)
    with SimulatorThread(ws, profile="unlimited") as sim:
        summary = run_flow(sim, target, shards=2, profile="unlimited", models="yes")
    assert summary["ok"]
    models = summary["models"]
    assert models["dataset"] == "slack_analytics"
    con = duckdb.connect(target.location(), read_only=True)
    try:
        counts = {
            name: con.execute(f"select count(*) from slack_analytics.{name}").fetchone()[0]
            for name in models["rows"]
        }
    finally:
        con.close()
    assert models["rows"] == counts
    assert counts["threads"] > 0 and counts["questions"] > 0

    figures = read_figures(make_pipeline(target), "slack_analytics")
    assert models["found"] == summary_lines(figures)
    with get_client(sync_client=True) as client:
        arts = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[summary["flow_run_id"]])
            )
        )
    published = {a.key: a.data for a in arts if a.key}
    assert published["slack-ingest-analytics-slack"] == figures_markdown(figures)
