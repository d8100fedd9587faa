"""`slack_source` works from any dlt pipeline, configured the dlt way (env / toml)."""

from __future__ import annotations

import dlt

from ingest.load.run import Target
from ingest.simulator import SimulatorThread, Workspace
from ingest.source import slack_source
from tests.integration.helpers import assert_matches_truth


def test_slack_source_reads_dlt_config(tmp_path, monkeypatch):
    ws = Workspace.generate(size="tiny", seed=41)
    with SimulatorThread(ws, profile="unlimited") as sim:
        monkeypatch.setenv("SOURCES__SLACK__ACCESS_TOKEN", ws.token)
        monkeypatch.setenv("SOURCES__SLACK__BASE_URL", sim.base_url)
        monkeypatch.setenv("SOURCES__SLACK__PROFILE", "unlimited")
        db = tmp_path / "lib.duckdb"
        pipeline = dlt.pipeline(
            "my_slack",
            destination=dlt.destinations.duckdb(str(db)),
            dataset_name="slack",
            pipelines_dir=str(tmp_path / "pl"),
        )
        pipeline.run(slack_source())
    assert_matches_truth(Target(duckdb_path=str(db)), ws.truth())
    # the token went nowhere near dlt's state or trace
    for path in (tmp_path / "pl").rglob("*"):
        if path.is_file():
            assert ws.token.encode() not in path.read_bytes(), path


def test_slack_source_parameters_are_the_settings_schema():
    """Every LoadSettings field is a config parameter of slack_source (derived, not restated),
    so a setting added to the schema is a `[sources.slack]` key of the dlt source too."""
    import dataclasses
    import inspect

    from ingest.source import LoadSettings

    params = list(inspect.signature(slack_source).parameters)
    assert params == ["access_token", *(f.name for f in dataclasses.fields(LoadSettings))]


def test_slack_source_applies_a_setting_from_dlt_config(tmp_path, monkeypatch):
    """A setting beyond the connection ones (a channel selection) reaches the load."""
    ws = Workspace.generate(size="tiny", seed=42)
    truth = ws.truth()
    with SimulatorThread(ws, profile="unlimited") as sim:
        one = sorted(truth.readable_channel_ids)[0]
        monkeypatch.setenv("SOURCES__SLACK__ACCESS_TOKEN", ws.token)
        monkeypatch.setenv("SOURCES__SLACK__BASE_URL", sim.base_url)
        monkeypatch.setenv("SOURCES__SLACK__PROFILE", "unlimited")
        monkeypatch.setenv("SOURCES__SLACK__CHANNELS", f'["{one}"]')  # dlt: JSON for a list
        db = tmp_path / "one.duckdb"
        pipeline = dlt.pipeline(
            "my_slack_one",
            destination=dlt.destinations.duckdb(str(db)),
            dataset_name="slack",
            pipelines_dir=str(tmp_path / "pl"),
        )
        pipeline.run(slack_source())
    with pipeline.sql_client() as client:
        rows = client.execute_sql("select distinct channel_id from messages")
    assert [r[0] for r in rows] == [one]
