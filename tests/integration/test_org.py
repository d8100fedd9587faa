"""Enterprise Grid with `slack-ingest run`: an org-wide token loads every workspace of a
simulated org of 8 at once, each on its own per-workspace budget, exactly (every key, no
duplicates, shared channels once, `team_id` on every row), with 0 429s; then again after a
mutation round (edits and deletions of any age). `--team` narrows the load; a `--team` the
token cannot load is one line and exit 2."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ingest.load.org import run_org
from ingest.load.preflight import preflight
from ingest.load.run import Target
from ingest.simulator import SimulatorThread
from ingest.simulator.org import Org
from ingest.source import ConfigError, LoadSettings
from tests.integration.helpers import query
from tests.reliability.support import assert_exact, assert_one_line_failure, cli_env, run_cli

TIME_SCALE = 600.0


def org_args(sim: Any, db: Path, *more: str) -> list[str]:
    """`run` at Slack's real per-workspace budgets (profile internal), time-scaled."""
    return [
        "run",
        "--base-url",
        sim.base_url,
        "--profile",
        "internal",
        "--time-scale",
        str(TIME_SCALE),
        "--duckdb-path",
        str(db),
        "--lookback-days",
        "36500",
        "--quiet",
        *more,
    ]


def edited_and_deleted(truth: Any) -> tuple[dict[tuple[str, str], str], set[tuple[str, str]]]:
    edited: dict[tuple[str, str], str] = {}
    deleted: set[tuple[str, str]] = set()
    for t in truth.teams.values():
        edited.update(t.edited)
        deleted |= set(t.deleted)
    return edited, deleted


def check_org(target: Target, org: Org, *, edits: bool = False) -> None:
    truth = org.truth()
    assert_exact(target, truth)
    ds = target.dataset
    # every row carries the workspace it was loaded through; a shared channel is its host's
    channels = dict(query(target, f"select id, team_id from {ds}.channels"))
    assert channels == truth.channel_team
    assert truth.shared and set(truth.shared) <= set(channels)
    wrong = query(
        target,
        f"select count(*) from {ds}.messages m join {ds}.channels c on c.id = m.channel_id "
        "where m.team_id is distinct from c.team_id",
    )[0][0]
    assert wrong == 0
    for table in ("channel_members", "team"):
        assert query(target, f"select count(*) from {ds}.{table} where team_id is null") == [(0,)]
    assert {r[0] for r in query(target, f"select id from {ds}.team")} == set(truth.teams)
    edited, deleted = edited_and_deleted(truth)
    rows = {
        (c, ts): (text, reply)
        for c, ts, text, reply in query(
            target, f"select channel_id, ts, text, coalesce(is_reply, false) from {ds}.messages"
        )
    }
    # (an edit of an old thread reply reaches the warehouse through the listener or a
    # rescan of that thread: docs/CHANGES.md; history's lookback brings every other edit)
    want = {k: v for k, v in edited.items() if not rows[k][1]}
    assert bool(want) == edits and {k: rows[k][0] for k in want} == want
    marked = {
        (c, ts)
        for c, ts in query(target, f"select channel_id, ts from {ds}.messages where is_deleted")
    }
    assert deleted <= marked


@pytest.mark.timeout(240)
def test_org_of_8_loads_exactly_at_once_on_per_workspace_budgets(tmp_path):
    org = Org.generate(8, seed=5, sizes=("tiny",))
    db = tmp_path / "org.duckdb"
    target = Target(duckdb_path=str(db))
    env = cli_env(org.token, tmp_path / "pipelines")
    with SimulatorThread(org, profile="internal", time_scale=TIME_SCALE) as sim:
        first = run_cli(org_args(sim, db), tmp_path, env)
        assert first.returncode == 0, first.stderr[-3000:]
        assert "loading 8 workspaces at once" in first.stdout
        assert "Workspaces" in first.stdout
        check_org(target, org)
        org.mutate(11, n=80, any_age=True)
        second = run_cli(org_args(sim, db), tmp_path, env)
        assert second.returncode == 0, second.stderr[-3000:]
        check_org(target, org, edits=True)
        stats = sim.stats()
    assert org.token not in first.stdout + first.stderr + second.stdout + second.stderr
    # Slack refused nothing: each workspace was paced on its own budget
    assert stats["totals"]["n_429"] == 0, stats["methods"]
    assert set(stats["teams"]) >= set(org.team_ids)
    for team in org.team_ids:
        assert stats["teams"][team]["methods"]["conversations.history"]["requests"] > 0


def test_team_narrows_an_org_load_and_bad_teams_are_one_line(tmp_path):
    org = Org.generate(3, seed=9, sizes=("tiny",))
    db = tmp_path / "two.duckdb"
    target = Target(duckdb_path=str(db), pipelines_dir=str(tmp_path / "pipelines"))
    env = cli_env(org.token, tmp_path / "pipelines")
    a, b, c = org.team_ids
    with SimulatorThread(org, profile="unlimited") as sim:
        args = ["run", "--base-url", sim.base_url, "--duckdb-path", str(db), "--quiet"]
        info = preflight(org.token, LoadSettings(base_url=sim.base_url, team_ids=(a, b)))
        assert info["teams"] == (a, b)
        run_org(org.token, LoadSettings(base_url=sim.base_url), target, info["org"], (a, b))
        teams = {r[0] for r in query(target, "select distinct team_id from slack.messages")}
        assert teams == {a, b}
        # (the CLI turns a ConfigError into one line and exit 2: tests/reliability)
        settings = LoadSettings(base_url=sim.base_url, profile="unlimited")
        with pytest.raises(ConfigError, match="--team TNOTATEAM: not a workspace of org"):
            preflight(org.token, settings.replace(team_ids=("TNOTATEAM",)))
        with pytest.raises(ConfigError, match=f"--team {a}: .* not an org-wide"):
            preflight(org.workspace(c).token, settings.replace(team_ids=(a,)))
        bad = run_cli([*args, "--team", "TNOTATEAM"], tmp_path, env)
        assert_one_line_failure(bad, 2, "--team TNOTATEAM", "not a workspace of org")
