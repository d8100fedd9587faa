"""The listener as a Prefect flow (prefect.yaml's `slack-listener`): it records Slack's
events in the journal the pipeline's runs apply, the app token from a Secret block or dlt
secrets on the worker, never a parameter."""

from __future__ import annotations

import threading
import time

from flows.listener import slack_listener
from ingest.load.journal import Journal
from ingest.simulator import DEFAULT_APP_TOKEN, SimulatorThread, Workspace
from tests.reliability.support import wait_for


def test_listener_flow_records_events_into_the_journal(tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCES__SLACK__APP_TOKEN", DEFAULT_APP_TOKEN)
    monkeypatch.setenv("SLACK_INGEST_APP_SECRET_BLOCK", "no-such-block-in-tests")
    journal = tmp_path / "j.sqlite"
    ws = Workspace.generate(size="tiny", seed=81)
    cid = sorted(ws.truth().readable_channel_ids)[0]
    with SimulatorThread(ws, profile="unlimited") as sim:
        out: dict = {}

        def go() -> None:
            out["result"] = slack_listener(
                stop_after_s=6.0,
                duckdb_path=str(tmp_path / "w.duckdb"),
                journal_path=str(journal),
                base_url=sim.base_url,
            )

        t = threading.Thread(target=go)
        t.start()
        assert wait_for(lambda: sim.sim.socket.stats()["open"] >= 1, 30)
        for i in range(4):
            ws.post_message(cid, text=f"flow listener {i}")
        time.sleep(0.5)
        t.join(60)
    assert out["result"]["recorded"] == 4, out
    with Journal(journal) as j:
        assert j.stats().pending == 4
    assert DEFAULT_APP_TOKEN not in str(out["result"])


def test_flow_runs_apply_the_journal_exactly(tmp_path, target, token_env):
    """The sharded flow applies captured changes (each shard its channels', the metadata
    task the rest) and consumes every entry; the warehouse equals the truth."""
    import itertools
    from dataclasses import replace

    from tests.changes.support import assert_forever
    from tests.flows.helpers import run_flow

    ws = Workspace.generate(size="tiny", seed=82)
    token_env(ws.token)
    journal_path = tmp_path / "changes.sqlite"
    target = replace(target, journal_path=str(journal_path))
    ids = itertools.count()
    with SimulatorThread(ws, profile="internal", time_scale=60.0) as sim:
        run_flow(sim, target, lookback_days=7.0, shards=2, journal_path=str(journal_path))
        with Journal(journal_path) as journal:
            # the workspace's events, recorded as the listener records them
            unsubscribe = ws.subscribe(
                lambda e: journal.record({"event_id": f"Ev{next(ids)}", "event": e})
            )
            ws.mutate(rng_seed=9, n=30, any_age=True)
            unsubscribe()
            assert journal.stats().pending > 0
        summary = run_flow(sim, target, lookback_days=7.0, shards=2, journal_path=str(journal_path))
        assert summary
        assert_forever(target, ws)
    with Journal(journal_path) as j:
        assert j.stats().pending == 0
