"""Transient failures retry and succeed; fatal ones fail fast with the clear message; a
failed load leaves nothing the next run cannot finish."""

from __future__ import annotations

import time
from collections import Counter
from contextlib import nullcontext
from typing import Any

import pytest

import ingest.load.run
from ingest.load.run import Target
from ingest.simulator import SimulatorThread, Workspace
from ingest.slack import SlackAuthError
from tests.flows.helpers import run_flow
from tests.integration.helpers import assert_matches_truth

VICTIM = "shard0of2"


class DestinationHiccup(RuntimeError):
    """A transient destination failure (not a user mistake)."""


@pytest.fixture
def tiny(tmp_path, token_env):
    ws = Workspace.generate(size="tiny", seed=31)
    token_env(ws.token)
    target = Target(
        duckdb_path=str(tmp_path / "warehouse.duckdb"), pipelines_dir=str(tmp_path / "pipelines")
    )
    with SimulatorThread(ws, profile="internal", time_scale=60.0) as sim:
        yield ws, sim, target


def _fail_load_step_once(monkeypatch, calls: Counter) -> None:
    """The victim shard's first attempt extracts and normalizes, then its load step fails:
    a normalized package stays pending."""
    real = ingest.load.run.run_load

    def flaky(
        token: str,
        settings: Any,
        target: Any,
        *,
        shard: str | None = None,
        load_lock: Any = None,
        **kw: Any,
    ) -> Any:
        calls[shard] += 1
        if shard != VICTIM or calls[shard] > 1:
            return real(token, settings, target, shard=shard, load_lock=load_lock, **kw)
        entered = Counter()

        def lock() -> Any:
            # run_load takes the lock first to finish pending packages and sync with the
            # destination, then for each slice's load step: fail the first load step.
            entered["n"] += 1
            if entered["n"] == 2:
                raise DestinationHiccup("simulated destination outage during load")
            return (load_lock or nullcontext)()

        return real(token, settings, target, shard=shard, load_lock=lock, **kw)

    monkeypatch.setattr(ingest.load.run, "run_load", flaky)


def test_transient_failure_retries_and_succeeds(tiny, monkeypatch):
    ws, sim, target = tiny
    calls: Counter = Counter()
    _fail_load_step_once(monkeypatch, calls)
    summary = run_flow(sim, target, shards=2, max_concurrency=2, retry_backoff_s=0.5)
    assert calls[VICTIM] == 2
    victim = next(s for s in summary["shards"] if s["shard"] == VICTIM)
    assert victim["attempt"] == 2
    # the retry loaded what the failed attempt had left pending, then read on
    assert victim["settled"] == {target.pipeline_name(VICTIM): "loaded pending packages"}
    assert_matches_truth(target, ws.truth())


def test_failed_load_is_finished_by_the_next_run(tiny, monkeypatch):
    ws, sim, target = tiny
    calls: Counter = Counter()
    real = ingest.load.run.run_load
    _fail_load_step_once(monkeypatch, calls)
    from flows.pipeline import ShardFailed

    with pytest.raises(ShardFailed, match="simulated destination outage"):
        run_flow(sim, target, shards=2, max_concurrency=2, retries=0)
    assert calls[VICTIM] == 1
    monkeypatch.setattr(ingest.load.run, "run_load", real)
    import dlt

    pending = dlt.attach(target.pipeline_name(VICTIM), pipelines_dir=target.pipelines_dir)
    assert pending.has_pending_data
    ws.mutate(rng_seed=3, n=10)
    summary = run_flow(sim, target, shards=2, max_concurrency=2)
    assert summary["settled"] == {target.pipeline_name(VICTIM): "loaded pending packages"}
    assert not pending.has_pending_data
    assert_matches_truth(target, ws.truth())


def test_fatal_error_in_a_task_is_not_retried(tiny, monkeypatch):
    _, sim, target = tiny
    calls: Counter = Counter()
    real = ingest.load.run.run_load

    def revoked(
        token: str, settings: Any, target: Any, *, shard: str | None = None, **kw: Any
    ) -> Any:
        calls[shard] += 1
        if shard == VICTIM:
            raise SlackAuthError("conversations.history", "token_revoked")
        return real(token, settings, target, shard=shard, **kw)

    monkeypatch.setattr(ingest.load.run, "run_load", revoked)
    started = time.monotonic()
    with pytest.raises(SlackAuthError):
        run_flow(sim, target, shards=2, max_concurrency=2, retry_backoff_s=60.0)
    assert calls[VICTIM] == 1, "a fatal error must not be retried"
    assert time.monotonic() - started < 45  # a retry would have waited >= 30 s


def test_bad_token_fails_fast_with_a_clear_message(tiny, token_env, caplog):
    _, sim, target = tiny
    token_env("xoxb-not-a-token-the-simulator-knows")
    from ingest.load.explain import explain

    started = time.monotonic()
    with pytest.raises(SlackAuthError) as info:
        run_flow(sim, target, shards=2)
    assert time.monotonic() - started < 20
    code, message = explain(info.value)
    assert code == 2 and "rejected the token" in message
    assert "xoxb-not-a-token" not in caplog.text
