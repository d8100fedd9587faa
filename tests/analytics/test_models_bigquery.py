"""The models compile for BigQuery with the shipped BigQuery profile, offline: dbt compile
with a placeholder project and a throwaway service-account key, no warehouse query, and
every network access of the dbt process turned into an error."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from ingest.analytics import MODELS, compile_models_offline
from ingest.analytics import build as build_module
from tests.analytics.conftest import require_dbt

PROJECT = "offline-project"


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], Path]:
    require_dbt("bigquery")
    work = tmp_path_factory.mktemp("bq-compile")
    return compile_models_offline("bigquery", work_dir=work, project=PROJECT), work


def test_every_model_compiles(compiled: tuple[dict[str, str], Path]) -> None:
    sql, work = compiled
    assert set(sql) == set(MODELS)
    for model, text in sql.items():
        assert text.strip().lower().startswith(("with", "select", "--")), model
        # sources in the loaded dataset, BigQuery quoting
        assert f"`{PROJECT}`.`slack`.`messages`" in text or model == "unanswered_questions"
        assert "{{" not in text and "{%" not in text, model
    assert f"`{PROJECT}`.`slack_analytics`.`questions`" in sql["unanswered_questions"]
    # dbt wrote under the work dir only
    assert (work / "target" / "manifest.json").is_file()
    project = build_module.PROJECT_DIR
    assert not (project / "target").exists() and not (project / "logs").exists()


def test_bigquery_syntax_of_the_macros(compiled: tuple[dict[str, str], Path]) -> None:
    sql, _ = compiled
    weekly = sql["user_activity_weekly"]
    assert "date_trunc(date(ts_at, 'UTC'), week(monday)) as week" in weekly
    assert "date(ts_at, 'UTC') as day" in sql["channel_activity_daily"]
    for model in ("threads", "questions"):
        assert re.search(r"timestamp_diff\([^)]*, microsecond\) / 1000000", sql[model]), model
    # the author column is quoted the BigQuery way, and nothing DuckDB-only is left
    assert "`user` as user_id" in weekly
    for model, text in sql.items():
        for duckdb_only in ("epoch_us(", "timezone('UTC'", "date_trunc('week'", '"user"'):
            assert duckdb_only not in text, (model, duckdb_only)


def test_the_offline_guard_refuses_the_network() -> None:
    """The audit hook compile_models_offline runs dbt under: a connect or a name lookup
    raises (so a compile that passes made neither)."""
    for attempt in (
        "socket.getaddrinfo('example.com', 443)",
        "socket.create_connection(('127.0.0.1', 9), timeout=1)",
    ):
        code = build_module.NO_NETWORK + f"\nimport socket\n{attempt}\n"
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
        )
        assert done.returncode != 0, attempt
        assert "network access during an offline dbt compile" in done.stderr, done.stderr
