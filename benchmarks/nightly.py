"""`nightly`: what a nightly run costs after a day of changes, three ways, each beside its
minimum, and whether it ends exact.

Against one simulator process (profile `internal`, `TIME_SCALE`), into DuckDB:

1. backfill (`run_load`, 7-day lookback); snapshot the DuckDB file and the pipelines dir;
2. a real `python -m slack_ingest listen` process records "a day of mutations"
   (`POST /_sim/mutate`, `any_age`, `MUTATIONS[size]` changes) until every delivered
   envelope is acknowledged; the listener is stopped (SIGTERM);
3. three nightly runs, each from the restored snapshot (restored to the *same* paths: the
   dlt pipeline name comes from the DuckDB path): `listener` (a copy of the journal
   applied), `lookback` (no journal), `rescan` (`rescan=True`, no journal); per run: wall,
   requests per method (simulator stats, reset before each), and correctness against the
   truth after the mutations (missing / unexpected live keys, edits not loaded, deletions
   not marked);
4. beside each the minimum request counts (`minimum`), and measured/minimum;
5. `extrapolation`: computed (not measured) requests and wall of a nightly run with the
   listener and of a weekly rescan on a 2,000-channel, 2M-message workspace at Slack's own
   limits, scaled from the measured counts.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from benchmarks.common import (
    lower_bound,
    method_429s,
    method_requests,
    ratio,
    reset_client_buckets,
    settle,
)
from benchmarks.simproc import SimProcess

PROFILE = "internal"
#: 60x: one Slack minute per real second, as the other scenarios (`medium`'s backfill
#: ~2.5 min, the whole scenario ~4 min on 2 cores)
TIME_SCALE = 60.0
LOOKBACK_DAYS = 7.0
SEED = 0
MUTATE_SEED = 20261129
#: "a day of changes" per size: ~0.5% of the workspace's messages (medium: 200k messages
#: over ~11 months, ~600 new messages a day, so 1,000 changes of every kind is a busy day)
MUTATIONS = {"tiny": 40, "small": 200, "medium": 1000, "large": 10_000}
SIZES = {False: "medium", True: "small"}
VARIANTS = ("listener", "lookback", "rescan")
HISTORY_PAGE = 999  # the lookback's history page (PAGE_SIZES default)
RESCAN_PAGE = 999
REPLIES_PAGE = 1000

#: Slack's published limits (requests per minute) for the extrapolation
SLACK_RATES = {
    "conversations.history": 50.0,  # Tier 3
    "conversations.replies": 50.0,  # Tier 3
    "conversations.members": 100.0,  # Tier 4
    "conversations.list": 20.0,  # Tier 2
    "users.list": 20.0,  # Tier 2
}
EXTRAPOLATE = {"channels": 2000, "messages": 2_000_000}

DAY_S = 86400.0


# -- processes and files -----------------------------------------------------------------
def _listener_env(app_token: str) -> dict[str, str]:
    """No inherited Slack/destination settings; the app token through dlt's env provider."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SOURCES__SLACK", "SLACK_INGEST__", "DESTINATION__", "CREDENTIALS__"))
    }
    env["SOURCES__SLACK__APP_TOKEN"] = app_token
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _wait(pred: Any, timeout: float, step: float = 0.1) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(step)
    return bool(pred())


class ListenerProc:
    """`python -m slack_ingest listen` against the simulator, in its own process."""

    def __init__(self, sim: SimProcess, journal: Path, duckdb_path: str, cwd: Path) -> None:
        self.sim, self.journal, self.duckdb_path, self.cwd = sim, journal, duckdb_path, cwd
        self.log = cwd / "listener.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> float:
        opened = self.sim.stats()["socket"]["connections_opened"]
        t0 = time.perf_counter()
        args = [
            sys.executable,
            "-m",
            "slack_ingest",
            "listen",
            "--base-url",
            self.sim.base_url,
            "--duckdb-path",
            self.duckdb_path,
            "--journal",
            str(self.journal),
            "--quiet",
        ]
        with self.log.open("ab") as fh:
            self.proc = subprocess.Popen(
                args, cwd=self.cwd, env=_listener_env(self.sim.app_token), stdout=fh, stderr=fh
            )

        def connected() -> bool:
            s = self.sim.stats()["socket"]
            return bool(s["open"] >= 1 and s["connections_opened"] > opened)

        if not _wait(connected, timeout, 0.2):
            self.stop()
            raise RuntimeError(f"listener did not connect: {self.log.read_text()[-2000:]}")
        return time.perf_counter() - t0

    def stop(self) -> int | None:
        proc, self.proc = self.proc, None
        if proc is None:
            return None
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
            return None


def _settle_socket(sim: SimProcess, timeout: float) -> tuple[bool, dict[str, Any]]:
    """Every event published was delivered, and every delivered envelope acknowledged (or
    dropped after its retries): none waits for a redelivery."""

    def quiet() -> bool:
        s = sim.stats()["socket"]
        first = s["envelopes_sent"] - s["redelivered"]
        return bool(
            s["events_published"] > 0
            and first + s["lost_no_connection"] >= s["events_published"]
            and s["acked"] + s["dropped_after_retries"] >= first
        )

    time.sleep(0.2)
    ok = _wait(quiet, timeout, 0.25)
    return ok, dict(sim.stats()["socket"])


def _db_files(path: Path) -> list[Path]:
    return [p for p in (path, Path(str(path) + ".wal")) if p.exists()]


def _snapshot(db: Path, pipelines: Path, snap: Path) -> None:
    snap.mkdir(parents=True, exist_ok=True)
    for f in _db_files(db):
        shutil.copy2(f, snap / f.name)
    shutil.copytree(pipelines, snap / "pipelines")


def _restore(db: Path, pipelines: Path, snap: Path) -> None:
    for f in _db_files(db):
        f.unlink()
    shutil.rmtree(pipelines, ignore_errors=True)
    for f in snap.iterdir():
        if f.is_file():
            shutil.copy2(f, db.parent / f.name)
    shutil.copytree(snap / "pipelines", pipelines)


def _copy_journal(src: Path, dst: Path) -> None:
    """A consistent copy of the (WAL-mode) journal through SQLite's backup API."""
    for p in (dst, Path(str(dst) + "-wal"), Path(str(dst) + "-shm")):
        p.unlink(missing_ok=True)
    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)
    a.close()
    b.close()


# -- correctness -------------------------------------------------------------------------
def _truth_ns(raw: dict[str, Any]) -> SimpleNamespace:
    return SimpleNamespace(
        messages=frozenset(tuple(k) for k in raw["messages"]),
        channel_ids=frozenset(raw["channel_ids"]),
        readable_channel_ids=frozenset(raw["readable_channel_ids"]),
        user_ids=frozenset(raw["user_ids"]),
        members=frozenset(tuple(k) for k in raw["members"]),
        edited={(c, ts): text for c, ts, text in raw["edited"]},
        deleted=frozenset(tuple(k) for k in raw["deleted"]),
        channel_names=raw["channel_names"],
        archived=frozenset(raw["archived"]),
        user_names=raw["user_names"],
    )


def _query(path: str, sql: str) -> list[tuple[Any, ...]]:
    import duckdb

    con = duckdb.connect(path, read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def correctness(target: Any, truth: SimpleNamespace) -> dict[str, Any]:
    """Live keys vs truth, edited texts, deletion marks, channel names, user names."""
    from ingest.load.verify import compare_with_truth

    check = compare_with_truth(target, truth)
    db = target.location()
    rows = _query(
        db, "select channel_id, ts, text, coalesce(is_deleted, false) from slack.messages"
    )
    by_key = {(c, t): (text, deleted) for c, t, text, deleted in rows}
    edits_missing = sum(
        1 for k, text in truth.edited.items() if k not in by_key or by_key[k][0] != text
    )
    edits_old_reply = 0  # of those, edits of replies (no rescan sees them)
    replies = {
        (c, t) for c, t in _query(db, "select channel_id, ts from slack.messages where is_reply")
    }
    for k, text in truth.edited.items():
        if (k not in by_key or by_key[k][0] != text) and k in replies:
            edits_old_reply += 1
    unmarked = sum(1 for k in truth.deleted if k in by_key and not by_key[k][1])
    names = dict(_query(db, "select id, name from slack.channels"))
    wrong_names = sum(1 for c, n in truth.channel_names.items() if names.get(c) != n)
    users = dict(_query(db, "select id, real_name from slack.users"))
    wrong_users = sum(1 for u, n in truth.user_names.items() if users.get(u) != n)
    m = check["messages"]
    out = {
        "missing": m["missing"],
        "unexpected": m["unexpected"],
        "duplicates": m["duplicates"],
        "edits_not_loaded": edits_missing,
        "edits_not_loaded_of_replies": edits_old_reply,
        "deletions_not_marked": unmarked,
        "channel_names_wrong": wrong_names,
        "user_names_wrong": wrong_users,
        "channels_ok": check["channels"]["ok"],
        "members_ok": check["members"]["ok"],
        "users_ok": check["users"]["ok"],
        "edits_in_truth": len(truth.edited),
        "deleted_in_truth": len(truth.deleted),
    }
    out["exact"] = bool(
        check["ok"]
        and not (edits_missing or unmarked or wrong_names or wrong_users or m["duplicates"])
    )
    return out


# -- minimums ----------------------------------------------------------------------------
def _history_rows(db: str) -> list[tuple[str, str]]:
    """(channel, ts) of every live message conversations.history returns (top-level and
    broadcasts)."""
    return [
        (c, t)
        for c, t in _query(
            db,
            "select channel_id, ts from slack.messages where not coalesce(is_deleted, false) "
            "and (not is_reply or subtype = 'thread_broadcast')",
        )
    ]


def _parents(db: str) -> dict[tuple[str, str], tuple[int, str | None]]:
    """Live thread parents -> (reply_count, latest_reply), threads emptied by deletions
    included (Slack keeps reply_count 0 on them)."""
    rows = _query(
        db,
        "select channel_id, ts, reply_count, latest_reply from slack.messages "
        "where not coalesce(is_deleted, false) and not is_reply and reply_count is not null",
    )
    return {(c, t): (int(n), lr) for c, t, n, lr in rows}


def minimums(
    snapshot_db: str,
    after_db: str,
    truth: SimpleNamespace,
    journal_summary: dict[str, int],
    cutoff_ts: float,
) -> dict[str, Any]:
    """Fewest history/replies calls each variant needs. Message counts and each thread's
    (reply_count, latest_reply) now are taken from `after_db` (a run that re-read every
    channel's whole history: the rescan's warehouse), restricted to the truth's live keys;
    "before" from the backfill's snapshot."""
    live = truth.messages
    readable = sorted(truth.readable_channel_ids)
    hist = [k for k in _history_rows(after_db) if k in live]
    per_channel: dict[str, int] = dict.fromkeys(readable, 0)
    recent: dict[str, int] = dict.fromkeys(readable, 0)
    for c, t in hist:
        if c in per_channel:
            per_channel[c] += 1
            if float(t) >= cutoff_ts:
                recent[c] += 1
    before = {k: v for k, v in _parents(snapshot_db).items() if v[0] > 0}
    now = {k: v for k, v in _parents(after_db).items() if k in live}
    moved = {
        k: v for k, v in now.items() if before.get(k, (0, None)) != v and (k in before or v[0])
    }
    emptied = sum(1 for v in moved.values() if v[0] == 0)
    moved_in_window = {k: v for k, v in moved.items() if float(k[1]) >= cutoff_ts}

    def replies_calls(threads: dict[tuple[str, str], tuple[int, str | None]]) -> int:
        return sum(math.ceil((n + 1) / REPLIES_PAGE) for n, _ in threads.values())

    rescan_history = sum(max(1, math.ceil(n / RESCAN_PAGE)) for n in per_channel.values())
    lookback_history = sum(max(1, math.ceil(n / HISTORY_PAGE)) for n in recent.values())
    return {
        "note": "request floors: history/replies only (list, users, members are the same "
        "for every variant); counts from the rescan's warehouse restricted to the truth's "
        "live keys, threads' before-state from the backfill snapshot",
        "readable_channels": len(readable),
        "history_messages": len(hist),
        "history_messages_in_lookback": sum(recent.values()),
        "threads_moved": len(moved),
        "threads_moved_in_lookback": len(moved_in_window),
        "threads_emptied": emptied,
        "threads_emptied_note": "threads whose every reply was deleted (reply_count now 0): "
        "marked deleted without a call, so not counted in the rescan's replies floor",
        "listener": {
            "conversations.history": len(readable),
            "conversations.replies": journal_summary.get("threads", 0),
            "basis": "one history call per readable channel + one replies call per thread "
            "or message the journal touched (summary()['threads'])",
        },
        "lookback": {
            "conversations.history": lookback_history,
            "conversations.replies": len(moved_in_window),
            "basis": f"per channel ceil(messages in the last {LOOKBACK_DAYS:g} days / "
            f"{HISTORY_PAGE}) (>= 1) + one replies call per thread in the window whose "
            "replies moved",
        },
        "rescan": {
            "conversations.history": rescan_history,
            "conversations.replies": replies_calls({k: v for k, v in moved.items() if v[0]}),
            "basis": f"per channel ceil(messages in history / {RESCAN_PAGE}) (>= 1) + "
            f"ceil((replies+1)/{REPLIES_PAGE}) per thread whose replies moved and that "
            "still has replies",
        },
    }


# -- extrapolation -----------------------------------------------------------------------
def _wall_at_slack(requests: dict[str, float]) -> dict[str, Any]:
    per = {m: round(n / SLACK_RATES[m], 1) for m, n in requests.items() if m in SLACK_RATES and n}
    busiest = max(per, key=lambda m: per[m]) if per else None
    return {
        "minutes_per_method": per,
        "wall_min": per[busiest] if busiest else 0.0,
        "binding_method": busiest,
    }


def extrapolate(
    size_info: dict[str, Any], runs: dict[str, Any], touched: int, mutations: int
) -> dict[str, Any]:
    """Scale the measured per-channel / per-message / per-touched-thread counts to
    EXTRAPOLATE at Slack's own limits (each method's budget separate, concurrent: the wall
    is the busiest method's)."""
    channels = size_info["readable_channels"]
    messages = size_info["messages"]
    users = size_info["users"]
    k_ch = EXTRAPOLATE["channels"] / channels
    k_msg = EXTRAPOLATE["messages"] / messages
    big_users = round(users * k_msg)
    touched_day = round(touched * k_msg)
    listener = runs["listener"]["requests"]
    rescan = runs["rescan"]["requests"]
    lst_replies_per_touched = listener.get("conversations.replies", 0) / max(1, touched)
    nightly = {
        "conversations.history": round(
            listener.get("conversations.history", 0) / channels * EXTRAPOLATE["channels"]
        ),
        "conversations.replies": round(lst_replies_per_touched * touched_day),
        "conversations.members": round(
            listener.get("conversations.members", 0) / channels * EXTRAPOLATE["channels"]
        ),
        "conversations.list": max(1, math.ceil(EXTRAPOLATE["channels"] * 1.1 / 999)),
        "users.list": math.ceil(big_users / 200),
    }
    moved_day = size_info["threads_moved"]
    hist_per_msg = rescan.get("conversations.history", 0) / max(1, size_info["history_messages"])
    big_history_msgs = round(size_info["history_messages"] * k_msg)
    weekly_moved = round(moved_day * k_msg * 7)
    weekly_history = max(EXTRAPOLATE["channels"], round(hist_per_msg * big_history_msgs))
    fixed = {
        "conversations.members": nightly["conversations.members"],
        "conversations.list": nightly["conversations.list"],
        "users.list": nightly["users.list"],
    }
    # the listener ran all week and the nightly runs applied it: a thread differs from the
    # warehouse only where the listener missed an event (assumed none)
    weekly = {"conversations.history": weekly_history, "conversations.replies": 0, **fixed}
    weekly_alone = {
        "conversations.history": weekly_history,
        "conversations.replies": weekly_moved,
        **fixed,
    }
    return {
        "computed_not_measured": True,
        "workspace": {**EXTRAPOLATE, "users": big_users, "history_messages": big_history_msgs},
        "slack_rates_per_min": SLACK_RATES,
        "assumptions": [
            f"measured on {size_info['size']}: {channels} readable channels, {messages:,} "
            f"messages, {users} users; scaled x{k_ch:g} per channel, x{k_msg:g} per message",
            f"a day of changes scales with the messages: {mutations} changes -> "
            f"{round(mutations * k_msg):,}, {touched} touched threads -> {touched_day:,} a "
            f"day, {moved_day} threads whose replies moved -> {round(moved_day * k_msg):,}",
            "nightly with the listener: history and members calls per channel as measured "
            "(the lookback's re-read stays), replies calls per touched thread as measured",
            "weekly rescan: history calls per history message as measured (999-message "
            "pages, at least one per channel); replies: with the listener running all week "
            "only threads it missed (assumed 0); without it (`weekly_rescan_without_"
            "listener`) the threads whose replies moved in a day x 7 (no overlap between "
            "days: an upper bound)",
            "Slack's budgets per method, each separate and used concurrently at the full "
            "rate, no bursts, no 429s: wall = the busiest method's requests / rate",
            "users.list 200 per page, conversations.list 999 per page (10% archived/other)",
        ],
        "nightly_with_listener": {"requests": nightly, **_wall_at_slack(nightly)},
        "weekly_rescan": {"requests": weekly, **_wall_at_slack(weekly)},
        "weekly_rescan_without_listener": {
            "requests": weekly_alone,
            **_wall_at_slack(weekly_alone),
        },
    }


# -- the scenario ------------------------------------------------------------------------
def _settings(sim: SimProcess, time_scale: float, **kw: Any) -> Any:
    from ingest.source import LoadSettings

    return LoadSettings(
        base_url=sim.base_url,
        profile=PROFILE,
        time_scale=time_scale,
        lookback_days=LOOKBACK_DAYS,
        **kw,
    ).validate()


class _JobRetries(logging.Handler):
    """Counts dlt's "Job ... retried" warnings (e.g. DuckDB out of memory on a job)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "retried in load" in record.getMessage():
            self.count += 1


def _timed_run(sim: SimProcess, settings: Any, target: Any, time_scale: float) -> dict[str, Any]:
    from ingest.load.run import run_load

    reset_client_buckets()
    settle(time_scale)
    sim.reset_stats()
    retries = _JobRetries()
    logging.getLogger("dlt").addHandler(retries)
    try:
        t0 = time.perf_counter()
        result = run_load(sim.token, settings, target)
        wall = time.perf_counter() - t0
    finally:
        logging.getLogger("dlt").removeHandler(retries)
    stats = sim.stats()
    requests = method_requests(stats)
    bound = lower_bound(requests, PROFILE, time_scale)
    return {
        "lower_bound_s": bound["lower_bound_s"],
        "binding_method": bound["binding_method"],
        "dlt_job_retries": retries.count,
        "wall_s": round(wall, 3),
        "requests": requests,
        "n_429": sum(method_429s(stats).values()),
        "changes": result.changes,
        "marked_deleted": result.marked_deleted,
        "row_counts": result.row_counts,
    }


def measure(size: str, *, time_scale: float = TIME_SCALE, workdir: Path) -> dict[str, Any]:
    from ingest.load.journal import Journal
    from ingest.load.run import Target

    n_mut = MUTATIONS.get(size, 1000)
    db = workdir / "nightly.duckdb"
    pipelines = workdir / "pipelines"
    snap = workdir / "snapshot"
    journal = workdir / "listener.journal.sqlite"
    missing = workdir / "no-journal.sqlite"

    def target(journal_path: Path) -> Any:
        return Target(
            duckdb_path=str(db),
            dataset="slack",
            pipelines_dir=str(pipelines),
            journal_path=str(journal_path),
        )

    out: dict[str, Any] = {
        "size": size,
        "profile": PROFILE,
        "time_scale": time_scale,
        "slack_minutes_per_real_second": time_scale / 60.0,
        "lookback_days": LOOKBACK_DAYS,
        "mutations": n_mut,
        "mutate_seed": MUTATE_SEED,
    }
    with SimProcess(size, seed=SEED, profile=PROFILE, time_scale=time_scale) as sim:
        out["messages_before"] = sim.messages
        # 1. backfill + snapshot
        backfill = _timed_run(sim, _settings(sim, time_scale), target(missing), time_scale)
        before = _truth_ns(sim.truth())
        backfill["correctness"] = correctness(target(missing), before)
        out["backfill"] = backfill
        _snapshot(db, pipelines, snap)

        # 2. the listener hears a day of changes
        sim.reset_stats()
        listener = ListenerProc(sim, journal, str(db), workdir)
        connect_s = listener.start()
        t0 = time.perf_counter()
        ops = sim.mutate(MUTATE_SEED, n_mut, any_age=True)
        mutate_s = time.perf_counter() - t0
        settled, socket = _settle_socket(sim, timeout=180.0)
        settle_s = time.perf_counter() - t0
        code = listener.stop()
        with Journal(journal) as j:
            summary = j.changes().summary()
            pending = j.stats().pending
        out["listen"] = {
            "connect_s": round(connect_s, 3),
            "mutate_s": round(mutate_s, 3),
            "until_all_acked_s": round(settle_s, 3),
            "all_acked": settled,
            "exit_code": code,
            "ops": ops,
            "socket": socket,
            "journal_summary": summary,
            "journal_pending": pending,
        }
        raw = sim.truth()
        truth = _truth_ns(raw)
        info = {
            "size": size,
            "readable_channels": len(truth.readable_channel_ids),
            "messages": len(truth.messages),
            "users": len(truth.user_ids),
        }
        out["truth_after"] = {
            **info,
            "channels": len(truth.channel_ids),
            "edited": len(truth.edited),
            "deleted": len(truth.deleted),
            "archived": len(truth.archived),
        }

        # 3. three nightly runs from the same snapshot
        runs: dict[str, Any] = {}
        cutoff = 0.0
        for name in VARIANTS:
            _restore(db, pipelines, snap)
            if name == "listener":
                jpath = workdir / "journal-run.sqlite"
                _copy_journal(journal, jpath)
            else:
                jpath = missing
            settings = _settings(sim, time_scale, rescan=(name == "rescan"))
            cutoff = time.time() - LOOKBACK_DAYS * DAY_S
            run = _timed_run(sim, settings, target(jpath), time_scale)
            run["correctness"] = correctness(target(jpath), truth)
            runs[name] = run
        # 4. minimums (the rescan's warehouse is at `db` now)
        mins = minimums(str(snap / db.name), str(db), truth, summary, cutoff)
        info.update(threads_moved=mins["threads_moved"], history_messages=mins["history_messages"])
        for name in VARIANTS:
            floor = mins[name]
            req = runs[name]["requests"]
            runs[name]["minimum"] = {m: floor[m] for m in floor if m != "basis"}
            runs[name]["measured_over_minimum"] = {
                m: ratio(req.get(m, 0), floor[m], 2) for m in floor if m != "basis"
            }
        out["minimum"] = mins
        out["runs"] = runs
        out["exact"] = {n: runs[n]["correctness"]["exact"] for n in VARIANTS}
        out["wall_s"] = {n: runs[n]["wall_s"] for n in VARIANTS}
        out["extrapolation"] = extrapolate(info, runs, summary.get("threads", 0), n_mut)
    return out


def run(quick: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-nightly-") as tmp:
        return measure(SIZES[quick], workdir=Path(tmp))
