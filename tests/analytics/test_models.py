"""The analytics models, built by dbt through dlt's runner on a simulated workspace loaded
into DuckDB, equal the same figures computed in Python from the simulator's own messages:
every row and every value of every model, after a first load and again after a round of
changes (deleted, edited and new questions, new answers, deleted answers, random changes
of any age) and a second load."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ingest.analytics import (
    MODELS,
    ModelsBuild,
    ModelsError,
    ModelsUnavailable,
    analytics_dataset_name,
    build_models,
)
from ingest.analytics import build as build_module
from ingest.load.run import make_pipeline
from ingest.simulator import SimulatorThread, Workspace
from tests.analytics.conftest import Warehouse, require_dbt
from tests.analytics.support import (
    COLUMNS,
    TYPES,
    Msg,
    Rows,
    assert_model_equal,
    column_types,
    expected_models,
    live_messages,
    model_differences,
    read_models,
)
from tests.integration.helpers import load
from tests.reliability.support import assert_exact

SEED = 11
DATASET = "slack_analytics"


@dataclass
class Round:
    """One load and build: what dbt built, its tables as read then, and the expectation."""

    build: ModelsBuild
    actual: dict[str, Rows]
    expected: dict[str, Rows]
    cwd: Path
    cwd_after: list[str]
    notes: dict[str, Any] = field(default_factory=dict)


@dataclass
class Env:
    ws: Workspace
    sim: Any
    warehouse: Warehouse
    first: Round
    second: Round | None = None


def _build_round(ws: Workspace, wh: Warehouse, name: str, tz: str | None = None) -> Round:
    """Build the models from an empty working directory (dbt must write nothing there),
    with the dbt process in time zone `tz` (days and weeks are UTC whatever the machine's
    zone), then snapshot the tables (the next build replaces them) and the expectation."""
    cwd = wh.root / f"cwd-{name}"
    cwd.mkdir()
    before, before_tz = os.getcwd(), os.environ.get("TZ")
    os.chdir(cwd)
    if tz:
        os.environ["TZ"] = tz  # the dbt process inherits it
    try:
        build = build_models(make_pipeline(wh.target))
    finally:
        os.chdir(before)
        if before_tz is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = before_tz
    return Round(
        build=build,
        actual=read_models(wh.target, build.dataset),
        expected=expected_models(ws),
        cwd=cwd,
        cwd_after=sorted(os.listdir(cwd)),
    )


@pytest.fixture(scope="module")
def env(warehouse: Warehouse) -> Iterator[Env]:
    require_dbt("duckdb")
    ws = Workspace.generate("small", seed=SEED)
    with SimulatorThread(ws, profile="unlimited") as sim:
        load(sim, warehouse.target)
        # UTC+14: a day or week taken in the machine's zone would differ for most messages
        yield Env(ws, sim, warehouse, _build_round(ws, warehouse, "first", "Pacific/Kiritimati"))


# ------------------------------------------------------------------------------ first load


def test_build_reports_what_it_built(env: Env) -> None:
    b = env.first.build
    assert b.dataset == DATASET == analytics_dataset_name("slack")
    assert b.source_dataset == "slack" and b.profile == "duckdb"
    assert b.models == {m: len(env.first.expected[m]) for m in MODELS}
    assert all(n > 0 for n in b.models.values()), b.models
    assert b.tests and set(b.tests.values()) == {"pass"}, b.tests
    assert 0 < b.seconds < 120
    # dbt wrote into the pipeline's working dir: not the package, not the cwd
    pipelines = Path(env.warehouse.target.pipelines_dir or "")
    for path in (b.target_path, b.log_path):
        assert Path(path).is_relative_to(pipelines), path
    assert (Path(b.target_path) / "run_results.json").is_file()
    assert (Path(b.log_path) / "dbt.log").is_file()
    assert env.first.cwd_after == []
    project = build_module.PROJECT_DIR
    written = [p.name for p in project.rglob("*") if p.name in ("target", "logs", ".user.yml")]
    assert written == [], f"dbt wrote into the package: {written}"


def test_no_connection_is_left_open(env: Env) -> None:
    """Another process can take DuckDB's write lock: the build left nothing open."""
    code = "import duckdb, sys; duckdb.connect(sys.argv[1]).close()"
    done = subprocess.run(
        [sys.executable, "-c", code, env.warehouse.target.duckdb_path],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("model", MODELS)
def test_columns_and_types(env: Env, model: str) -> None:
    types = column_types(env.warehouse.target, DATASET, model)
    assert tuple(types) == COLUMNS[model]
    for col, typ in types.items():
        assert typ == TYPES[model].get(col, "VARCHAR"), (model, col, typ)


#: schema.yml's `data_type` (dlt's type names, as docs/SCHEMA.md shows them) -> DuckDB's
DOCUMENTED_TYPES = {
    "text": "VARCHAR",
    "bigint": "BIGINT",
    "double": "DOUBLE",
    "timestamp": "TIMESTAMP WITH TIME ZONE",
    "date": "DATE",
    "bool": "BOOLEAN",
}


@pytest.mark.parametrize("model", MODELS)
def test_schema_yml_documents_every_column_with_its_type(env: Env, model: str) -> None:
    """schema.yml (and so docs/SCHEMA.md, generated from it) lists each built column, in
    order, with its type and a meaning."""
    import yaml  # type: ignore[import-untyped]

    from ingest.load.schema_doc import DBT_SCHEMA

    doc = {m["name"]: m for m in yaml.safe_load(DBT_SCHEMA.read_text())["models"]}
    cols = doc[model]["columns"]
    types = column_types(env.warehouse.target, DATASET, model)
    assert [c["name"] for c in cols] == list(types)
    for c in cols:
        assert DOCUMENTED_TYPES[c["data_type"]] == types[c["name"]], (model, c["name"])
        assert c.get("description"), (model, c["name"])


@pytest.mark.parametrize("model", MODELS)
def test_model_equals_the_simulator(env: Env, model: str) -> None:
    assert_model_equal(model, env.first.actual[model], env.first.expected[model])


def test_the_workspace_has_what_the_models_are_about(env: Env) -> None:
    """Enough of each case for the comparisons to mean something."""
    exp = env.first.expected
    questions = exp["questions"].values()
    assert len(exp["questions"]) > 500
    assert sum(1 for q in questions if q[8]) >= 20  # answered
    assert sum(1 for q in questions if not q[8] and q[7] > 0) >= 1  # only the asker replied
    assert sum(1 for t in exp["threads"].values() if t[8] is None) >= 1  # no answer
    assert len(exp["threads"]) > 200
    assert any(r[4] > 0 and r[5] > 0 for r in exp["channel_activity_daily"].values())
    assert any(r[4] > 0 for r in exp["user_activity_weekly"].values())


def test_a_broken_comparison_is_caught(env: Env) -> None:
    """The comparison sees one wrong value, one missing row and one extra row."""
    actual = dict(env.first.actual["questions"])
    key = next(iter(actual))
    row = actual.pop(key)
    assert model_differences("questions", actual, env.first.expected["questions"])
    actual[key] = row[:7] + (row[7] + 1,) + row[8:]
    assert any(
        "questions.replies" in d
        for d in model_differences("questions", actual, env.first.expected["questions"])
    )
    actual[key] = row
    actual[("C0", "1.0")] = row
    assert model_differences("questions", actual, env.first.expected["questions"])


# ------------------------------------------------------------------------------ changes


def _top_and_replies(ws: Workspace) -> tuple[dict[tuple[str, str], Msg], dict[Any, list[Msg]]]:
    msgs = live_messages(ws)
    top = {(m.channel_id, m.ts): m for m in msgs if not m.is_reply}
    replies: dict[Any, list[Msg]] = {}
    for m in msgs:
        if m.is_reply:
            replies.setdefault((m.channel_id, m.thread_ts), []).append(m)
    for reps in replies.values():
        reps.sort(key=lambda r: r.us)
    return top, replies


def _other_user(ws: Workspace, cid: str, not_this: str) -> str:
    ch = ws.channel(cid)
    assert ch is not None
    return next(u for u in ch.authors if u != not_this)


def _targeted_changes(ws: Workspace) -> dict[str, Any]:
    """The changes the models must follow; returns what was changed, for the checks."""
    with ws.lock:
        open_channels = {ch.id for ch in ws.channels if ch.is_member and not ch.is_archived}
    top, replies = _top_and_replies(ws)

    def answers(q: Msg) -> list[Msg]:
        return [r for r in replies.get((q.channel_id, q.ts), []) if r.user and r.user != q.user]

    qs = sorted(
        (m for m in top.values() if m.is_question and m.channel_id in open_channels),
        key=lambda m: (m.channel_id, m.ts),
    )
    bare = [q for q in qs if (q.channel_id, q.ts) not in replies]
    answered = sorted(
        (q for q in qs if len({r.user for r in answers(q)}) >= 2), key=lambda q: -len(answers(q))
    )
    plain = [
        m
        for m in sorted(top.values(), key=lambda m: (m.channel_id, m.ts))
        if m.channel_id in open_channels
        and not m.is_question
        and m.subtype is None
        and m.bot_id is None
        and m.user
        and (m.channel_id, m.ts) not in replies
    ]
    assert len(bare) >= 3 and len(answered) >= 2 and plain, "the workspace lacks a case"
    notes: dict[str, Any] = {}

    # a bare question gets an answer: answered, by that user
    q = bare[0]
    who = _other_user(ws, q.channel_id, q.user or "")
    notes["answered"] = (
        q.channel_id,
        q.ts,
        who,
        ws.add_reply(q.channel_id, q.ts, "try this", user=who),
    )
    # a bare question gets a reply by its asker only: still unanswered, 1 reply
    q = bare[1]
    ws.add_reply(q.channel_id, q.ts, "anyone? bump", user=q.user)
    notes["self_reply"] = (q.channel_id, q.ts)
    # a bare question is edited into a statement: no longer a question
    q = bare[2]
    ws.edit_message(q.channel_id, q.ts, "never mind, found it")
    notes["edited_away"] = (q.channel_id, q.ts)
    # an answered thread question is deleted (with its thread)
    q = answered[0]
    ws.delete_message(q.channel_id, q.ts)
    notes["deleted"] = (q.channel_id, q.ts)
    # another answered question loses its first answer: the next answer is the first
    q = answered[1]
    first, *rest = answers(q)
    ws.delete_message(q.channel_id, first.ts)
    nxt = next(r for r in rest if r.ts != first.ts)
    notes["first_answer_deleted"] = (q.channel_id, q.ts, first.ts, nxt.user, nxt.ts)
    # a statement is edited into a question
    m = plain[0]
    ws.edit_message(m.channel_id, m.ts, "is the dashboard down for everyone?")
    notes["edited_into"] = (m.channel_id, m.ts)
    # a new question, unanswered
    cid = bare[0].channel_id
    asker = _other_user(ws, cid, "")
    notes["new"] = (cid, ws.post_message(cid, "who owns the flaky test?", user=asker), asker)
    return notes


@pytest.fixture(scope="module")
def changed(env: Env) -> Env:
    if env.second is None:
        env.ws.mutate(rng_seed=5, n=40, any_age=True)  # first: the targets stay live
        notes = _targeted_changes(env.ws)
        load(env.sim, env.warehouse.target, rescan=True)
        # the load itself is exact (live keys; a rescan does not see edits of old replies,
        # which no model reads)
        assert_exact(env.warehouse.target, env.ws.truth())
        env.second = _build_round(env.ws, env.warehouse, "second")
        env.second.notes = notes
    return env


@pytest.mark.parametrize("model", MODELS)
def test_model_equals_the_simulator_after_changes(changed: Env, model: str) -> None:
    second = changed.second
    assert second is not None
    assert_model_equal(model, second.actual[model], second.expected[model])
    assert second.build.models[model] == len(second.expected[model])


def test_changes_reach_the_questions(changed: Env) -> None:
    second = changed.second
    assert second is not None
    notes, questions = second.notes, second.actual["questions"]
    unanswered, threads = second.actual["unanswered_questions"], second.actual["threads"]
    first_q = changed.first.actual["questions"]

    cid, ts, who, reply_ts = notes["answered"]
    row = questions[(cid, ts)]
    assert (
        first_q[(cid, ts)][8] is False and (cid, ts) in changed.first.actual["unanswered_questions"]
    )
    assert row[7:10] == (1, True, who) and (cid, ts) not in unanswered
    assert row[11] is not None and row[12] > 0

    cid, ts = notes["self_reply"]
    assert questions[(cid, ts)][7:10] == (1, False, None) and unanswered[(cid, ts)][7] == 1
    assert threads[(cid, ts)][6:10] == (1, 0, None, None)

    for key in (notes["edited_away"], notes["deleted"]):
        assert key in first_q and key not in questions and key not in unanswered
    assert notes["deleted"] in changed.first.actual["threads"] and notes["deleted"] not in threads

    cid, ts, _gone, nxt_user, _nxt_ts = notes["first_answer_deleted"]
    assert questions[(cid, ts)][8:10] == (True, nxt_user)
    assert first_q[(cid, ts)][11] < questions[(cid, ts)][11]  # the first answer is later

    assert notes["edited_into"] not in first_q
    assert questions[notes["edited_into"]][6] == "is the dashboard down for everyone?"

    cid, ts, asker = notes["new"]
    assert questions[(cid, ts)][3] == asker and (cid, ts) in unanswered


# ------------------------------------------------------------------------------ failures


def test_a_failing_model_is_one_line_naming_it(
    changed: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A model dbt cannot build: ModelsError, one line, naming the model; the models
    already built are untouched (this build writes to another dataset)."""
    broken = tmp_path / "dbt"
    shutil.copytree(build_module.PROJECT_DIR, broken)
    sql = broken / "models" / "threads.sql"
    sql.write_text(sql.read_text().replace("s.distinct_responders,", "s.no_such_column,"))
    monkeypatch.setattr(build_module, "PROJECT_DIR", broken)
    with pytest.raises(ModelsError) as info:
        build_models(make_pipeline(changed.warehouse.target), analytics_dataset="broken_models")
    message = str(info.value)
    assert info.value.model == "threads"
    assert "threads" in message and "no_such_column" in message, message
    assert "\n" not in message and "Traceback" not in message, message
    assert not (broken / "target").exists() and not (broken / "logs").exists()


def test_without_dbt_the_message_names_the_install(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name.startswith("dbt") else real(name, *a),
    )
    with pytest.raises(ModelsUnavailable, match=r"pip install -e '\.\[models\]'"):
        build_models(make_pipeline(env.warehouse.target))
