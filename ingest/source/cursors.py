"""Per-channel incremental state and the decisions made from it.

State lives in dlt resource state as `{"channels": {channel_id: ChannelState.to_dict()}}`,
keyed by channel id (names change; ids do not). It records:

- `cursor`: the newest history ts loaded; the next run reads history after it.
- `from_ts`: the oldest bound loaded ("0" = from the beginning), so an earlier
  `start_date` later fetches only the missing older part.
- `threads`: parent ts -> (`latest_reply`, `reply_count`) for thread parents inside the
  lookback window. Slack has no "threads changed since" API: a new reply does not change
  its parent's ts, so only a re-read of parents inside the lookback shows that
  `latest_reply` moved; then only the replies after the recorded `latest_reply` are fetched.

In dlt state `threads` is one string, `ts,latest_reply,reply_count;...` (`encode_threads`):
every channel's state is held in memory for the whole load and serialized with every
slice, and as a dict of lists a tracked thread costs ~256 bytes of Python objects against
~41 as text (measured: `large`'s 88k parents at a long lookback peaked at 357-367 MB as
dicts, 338-349 MB as text; benchmarks/README.md).
Only the channels being read are decoded to dicts. Older states (a dict) still load.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ingest.source.settings import format_ts, ts_to_micros

BEGINNING = "0"


@dataclass(frozen=True)
class Window:
    """A history request: `oldest` < ts < `latest` (exclusive, as Slack's defaults)."""

    oldest: str
    latest: str | None

    def params(self) -> dict[str, str]:
        p = {"oldest": self.oldest}
        if self.latest is not None:
            p["latest"] = self.latest
        return p


@dataclass
class ChannelState:
    cursor: str | None = None
    from_ts: str | None = None
    threads: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> ChannelState:
        if not d:
            return cls()
        return cls(
            cursor=d.get("cursor"),
            from_ts=d.get("from_ts"),
            threads=decode_threads(d.get("threads")),
        )

    def to_dict(self, newer_threads: dict[str, Any] | None = None) -> dict[str, Any]:
        """The state as stored; `newer_threads` (seen this run) override `threads`."""
        return {
            "cursor": self.cursor,
            "from_ts": self.from_ts,
            "threads": encode_threads(self.threads, newer_threads),
        }


def _thread_text(ts: str, value: Any) -> str:
    latest, count = thread_entry(value)
    return f"{ts},{latest or ''},{'' if count is None else count}"


def encode_threads(threads: dict[str, Any], newer: dict[str, Any] | None = None) -> str:
    """Thread entries as one string (module docstring); entries in `newer` win."""
    newer = newer or {}
    parts = [_thread_text(ts, v) for ts, v in threads.items() if ts not in newer]
    parts.extend(_thread_text(ts, v) for ts, v in newer.items())
    return ";".join(parts)


def decode_threads(value: str | dict[str, Any] | None) -> dict[str, list[Any]]:
    """parent ts -> [latest_reply, reply_count] from `encode_threads`' string, or from an
    older state's dict (values [latest_reply, reply_count] or latest_reply alone)."""
    if not value:
        return {}
    if isinstance(value, dict):
        return {ts: list(thread_entry(v)) for ts, v in value.items()}
    threads: dict[str, list[Any]] = {}
    for part in value.split(";"):
        ts, latest, count = part.split(",")
        threads[ts] = [latest or None, int(count) if count else None]
    return threads


def _m(ts: str | None) -> int:
    return 0 if ts is None or ts == BEGINNING else ts_to_micros(ts)


def _exclusive_oldest(start: str | None) -> str:
    """`oldest` is exclusive; to include a message at exactly `start`, ask from 1 µs before."""
    if start is None or _m(start) == 0:
        return BEGINNING
    return format_ts(_m(start) - 1)


def plan_windows(
    state: ChannelState, start: str | None, end: str | None, now_micros: int, lookback_micros: int
) -> list[Window]:
    """History windows to read for one channel this run."""
    if state.cursor is None:
        return [Window(_exclusive_oldest(start), end)]
    windows: list[Window] = []
    lo = _m(state.cursor)
    floor = now_micros - lookback_micros
    if floor < lo:  # re-read the lookback (edits, moved threads), never below what we hold
        lo = max(floor, _m(state.from_ts))
    if end is None or _m(end) > lo:
        windows.append(Window(format_ts(lo) if lo else BEGINNING, end))
    if state.from_ts is not None and _m(start) < _m(state.from_ts):
        windows.append(Window(_exclusive_oldest(start), state.from_ts))
    return windows


def is_thread_parent(msg: dict[str, Any]) -> bool:
    ts = msg.get("ts")
    return msg.get("thread_ts") == ts and bool(msg.get("reply_count") or msg.get("latest_reply"))


@dataclass(frozen=True)
class ThreadFetch:
    """What to fetch of one thread: `since` None = the whole thread, else replies after it.
    `known` = we loaded this thread before (so a whole re-read reconciles deletions);
    `expect` = the reply count after this fetch if nothing was deleted (None: unknown);
    `prev_count` = the reply count recorded before (0: none or unknown)."""

    since: str | None
    known: bool
    expect: int | None
    prev_count: int = 0


def thread_entry(value: Any) -> tuple[str | None, int | None]:
    """Thread state entries are [latest_reply, reply_count] (older states: latest_reply)."""
    if isinstance(value, list | tuple):
        return value[0], (value[1] if len(value) > 1 else None)
    return value, None


def plan_thread(
    msg: dict[str, Any], state: ChannelState, known: dict[str, Any] | None = None
) -> ThreadFetch | None:
    """For a thread parent seen in history: None = nothing changed, nothing to fetch.
    `known` (a rescan): [newest reply ts, replies] the warehouse holds per parent; it wins
    over the state, which tracks only the lookback."""
    prev = known.get(msg["ts"]) if known is not None and msg["ts"] in known else None
    if prev is None:
        prev = state.threads.get(msg["ts"])
    latest = msg.get("latest_reply")
    count = msg.get("reply_count")
    if prev is None:
        return ThreadFetch(since=None, known=False, expect=None)
    prev_latest, prev_count = thread_entry(prev)
    if latest == prev_latest and (prev_count is None or count == prev_count):
        return None
    held = prev_count or 0
    if known is not None and msg["ts"] in known:
        # a rescan compares with the warehouse's rows: one whole re-read (one call for a
        # thread under 1000 replies) both adds the new replies and finds the deleted ones
        return ThreadFetch(since=None, known=True, expect=None, prev_count=held)
    if latest is not None and prev_latest is not None and _m(latest) > _m(prev_latest):
        # Only newer replies; if the count then does not add up, a reply was deleted.
        return ThreadFetch(since=prev_latest, known=True, expect=count, prev_count=held)
    return ThreadFetch(since=None, known=True, expect=None, prev_count=held)


def advance(
    state: ChannelState,
    *,
    max_ts_seen: str | None,
    start: str | None,
    seen_threads: dict[str, Any],
    now_micros: int,
    lookback_micros: int,
) -> ChannelState:
    """The state after every window and thread of this run was loaded."""
    cursor = state.cursor
    if max_ts_seen is not None and (cursor is None or _m(max_ts_seen) > _m(cursor)):
        cursor = max_ts_seen
    from_ts = start or BEGINNING
    if state.from_ts is not None and _m(state.from_ts) < _m(from_ts):
        from_ts = state.from_ts
    floor = now_micros - lookback_micros
    threads = {ts: lr for ts, lr in seen_threads.items() if _m(ts) >= floor}
    # Parents older than this run's windows but still inside the lookback stay tracked.
    for ts, lr in state.threads.items():
        if ts not in threads and _m(ts) >= floor and ts not in seen_threads:
            threads[ts] = lr
    return ChannelState(cursor=cursor, from_ts=from_ts, threads=threads)


def merge_states(
    own: dict[str, dict[str, Any]], seeds: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Per channel, the most advanced of this pipeline's state and states seeded from other
    pipelines of the same dataset (by cursor; ties keep our own)."""
    merged = dict(own)
    for cid, seed in seeds.items():
        mine = merged.get(cid)
        if not mine or _m(seed.get("cursor")) > _m(mine.get("cursor")):
            merged[cid] = seed
    return merged


def extends_down(state: ChannelState, window: Window) -> bool:
    """True when reading `window` newest-first keeps the held range contiguous: a channel's
    first run (nothing held) or a window that extends the held range downwards."""
    return state.cursor is None or (state.from_ts is not None and window.latest == state.from_ts)


def checkpoint(
    running: ChannelState,
    *,
    contiguous: bool,
    min_seen: str | None,
    max_seen: str | None,
    complete: bool,
    start: str | None,
) -> None:
    """Fold progress inside one window into `running` (the state as of this moment).

    History is read newest-first, so after some pages of a window the loaded part is
    `[min_seen, top of window]`. In a contiguous window that is committed as it goes
    (cursor up to `max_seen`, `from_ts` down to `min_seen`); an upper window of an
    incremental run leaves a gap below `min_seen` until it completes, so it is folded in
    only when complete. Callers emit a checkpoint only after the replies of every thread
    parent read so far are loaded too."""
    if contiguous or complete:
        if max_seen is not None and (running.cursor is None or _m(max_seen) > _m(running.cursor)):
            running.cursor = max_seen
    if contiguous:
        if min_seen is not None and (running.from_ts is None or _m(min_seen) < _m(running.from_ts)):
            running.from_ts = min_seen
        if complete:
            running.from_ts = start or BEGINNING
