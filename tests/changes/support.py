"""The "exact forever" checks and a real listener process (`slack-ingest listen`)."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from ingest.load.journal import Journal
from ingest.load.run import Target
from ingest.simulator import DEFAULT_APP_TOKEN, Workspace
from tests.integration.helpers import query
from tests.reliability.support import assert_exact, cli_argv, cli_env, wait_for


def assert_forever(target: Target, ws: Workspace) -> dict[str, Any]:
    """Destination == truth, for changes of any age: live keys (no duplicates), every
    edited text, every deletion mark, channel names and archiving, members, user names."""
    truth = ws.truth()
    check = assert_exact(target, truth)
    rows = query(
        target,
        "select channel_id, ts, text, coalesce(is_deleted, false) from slack.messages",
    )
    by_key = {(c, t): (text, deleted) for c, t, text, deleted in rows}
    wrong_text = {
        k: (by_key[k][0], text) for k, text in truth.edited.items() if by_key[k][0] != text
    }
    assert not wrong_text, (
        f"{len(wrong_text)} edits not loaded, e.g. {list(wrong_text.items())[:3]}"
    )
    unmarked = sorted(k for k in truth.deleted if k in by_key and not by_key[k][1])
    assert not unmarked, f"{len(unmarked)} deleted messages not marked, e.g. {unmarked[:3]}"
    names = dict(query(target, "select id, name from slack.channels"))
    assert {c: names.get(c) for c in truth.channel_names} == truth.channel_names
    archived = {c for (c,) in query(target, "select id from slack.channels where is_archived")}
    assert archived & set(truth.channel_names) == set(truth.archived)
    users = dict(query(target, "select id, real_name from slack.users"))
    assert {u: users.get(u) for u in truth.user_names} == truth.user_names
    return check


#: Listener processes started by tests (killed at teardown by tests/changes/conftest.py,
#: so a failing test does not leave one running)
STARTED: list[subprocess.Popen[str]] = []


class Listener:
    """`slack-ingest listen` in its own process, against the simulator."""

    def __init__(self, sim: Any, target: Target, cwd: Path, *extra: str) -> None:
        self.sim, self.target, self.cwd, self.extra = sim, target, cwd, extra
        self.proc: subprocess.Popen[str] | None = None
        self.log = cwd / "listener.log"

    def start(self) -> Listener:
        env = cli_env(None, extra={"SOURCES__SLACK__APP_TOKEN": DEFAULT_APP_TOKEN})
        args = [
            "listen",
            "--base-url",
            self.sim.base_url,
            "--duckdb-path",
            self.target.duckdb_path,
            "--journal",
            str(self.journal_path),
            *self.extra,
        ]
        opened = self.sim.stats()["socket"]["connections_opened"]
        self.proc = subprocess.Popen(
            cli_argv(args),
            cwd=self.cwd,
            env=env,
            stdout=self.log.open("a"),
            stderr=subprocess.STDOUT,
            text=True,
        )
        STARTED.append(self.proc)
        assert wait_for(
            lambda: (
                self.sim.stats()["socket"]["open"] >= 1
                and self.sim.stats()["socket"]["connections_opened"] > opened
            ),
            30,
        ), self.log.read_text()
        return self

    @property
    def journal_path(self) -> Path:
        return Path(self.target.journal_file())

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self.proc = None

    def stop(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(30)
        self.proc = None
        return code

    def recorded(self) -> int:
        if not self.journal_path.exists():
            return 0
        with Journal(self.journal_path) as j:
            s = j.stats()
            return s.pending + s.consumed


def settle(sim: Any, timeout: float = 60.0) -> dict[str, Any]:
    """Wait until every event published was acknowledged, or lost as Slack loses it (no
    connection open, or retries exhausted): none is still waiting for a redelivery."""

    def quiet() -> bool:
        s = sim.stats()["socket"]
        done = s["acked"] + s["lost_no_connection"] + s["dropped_after_retries"]
        return s["events_published"] > 0 and done >= s["events_published"]

    time.sleep(0.2)
    assert wait_for(quiet, timeout), sim.stats()["socket"]
    return dict(sim.stats()["socket"])
