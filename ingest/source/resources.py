"""The dlt source: channels, users, channel_members, messages (history + replies), team.

`make_source(token, settings)` is what the pipeline and the flows call; `slack_source`
is the same source with dlt's config injection (`[sources.slack]` in .dlt/config.toml and
secrets.toml, or SOURCES__SLACK__* environment variables) for use from any dlt pipeline.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import dlt
from dlt.sources import DltResource

from ingest.slack import SlackResourceError, SlackRetryExhaustedError
from ingest.source.arrow import COLUMN_HINTS, message_to_row, messages_to_arrow
from ingest.source.fanout import HistoryFanout, client_for, run_async
from ingest.source.progress import LoadProgress
from ingest.source.selection import ChannelPlan, plan_channels
from ingest.source.settings import LoadSettings, check_token
from ingest.source.state import merge_states

CHANNEL_TYPES = "public_channel,private_channel"
# Relational path: lists one level down become child tables (messages__reactions, ...);
# deeper structures (blocks' elements) stay JSON. Unbounded nesting turns Slack's block kit
# into hundreds of tables.
MAX_TABLE_NESTING = 1
#: How often (real seconds) the messages resource wakes up while the fan-out is quiet (Slack
#: retrying), to end a slice whose time is up at the checkpoints it already consumed.
IDLE_CHECK_S = 0.5


class SlackContext:
    """Shared by the resources of one source: the channel list is read once."""

    def __init__(self, token: str, settings: LoadSettings, progress: LoadProgress) -> None:
        self.token = token
        self.settings = settings
        self.progress = progress
        self._plan: ChannelPlan | None = None
        self._lock = threading.Lock()
        # Transient failures of the metadata resources (users, members, team): they load
        # what they read completely, history goes on, and the run fails at its end.
        self.failures: list[BaseException] = []
        self._failures_lock = threading.Lock()

    def failed(self, exc: BaseException) -> None:
        with self._failures_lock:
            self.failures.append(exc)

    def plan(self) -> ChannelPlan:
        with self._lock:
            if self._plan is None:
                self._plan = run_async(self._make_plan)
                self.progress.set_channel_names(
                    {c["id"]: str(c.get("name") or "") for c in self._plan.selected})
                self.progress.set_total(len(self._plan.readable))
                for cid, why in self._plan.skipped.items():
                    self.progress.channel_skipped(cid, why)
            return self._plan

    async def _make_plan(self) -> ChannelPlan:
        async with client_for(self.token, self.settings) as client:
            self.progress.attach_stats(client.stats)
            channels = await list_channels(client, self.settings)
            plan = plan_channels(channels, self.settings)
            for ch in plan.to_join:
                try:
                    await client.call("conversations.join", channel=ch["id"])
                    ch["is_member"] = True
                    plan.readable.append(ch)
                except SlackResourceError as exc:
                    plan.skipped[ch["id"]] = f"auto-join failed: {exc.code}"
            plan.readable.sort(key=lambda c: c["id"])
            return plan


async def list_channels(client: Any, settings: LoadSettings) -> list[dict[str, Any]]:
    types = CHANNEL_TYPES if settings.include_private else "public_channel"
    channels: list[dict[str, Any]] = []
    async for page in client.paginate("conversations.list", types=types,
                                      exclude_archived="true" if settings.exclude_archived else "false"):
        channels.extend(page.get("channels") or [])
    return channels


def make_source(token: str, settings: LoadSettings, *, progress: LoadProgress | None = None,
                channel_ids: list[str] | None = None, include: tuple[str, ...] | None = None,
                seed_states: dict[str, dict[str, Any]] | None = None,
                stream: MessageStream | None = None, context: SlackContext | None = None) -> Any:
    """Build the source. `channel_ids` restricts history to those channels (a shard);
    `include` names the resources to select (default: all)."""
    token = check_token(token)
    settings = settings.validate()
    ctx = context or SlackContext(token, settings, progress or LoadProgress())

    @dlt.source(name="slack", max_table_nesting=MAX_TABLE_NESTING)
    def _slack() -> list[DltResource]:
        return _resources(ctx, channel_ids, seed_states, stream)

    src = _slack()
    if include is not None:
        src = src.with_resources(*include)
    return src


class MessageStream:
    """Holds one history fan-out across the dlt extracts (slices) of a load."""

    def __init__(self) -> None:
        self._fan: HistoryFanout | None = None
        # (channel_id, lo, hi, thread_ts, existing ts): applied after the slice is loaded
        self.reconciliations: list[tuple[Any, ...]] = []
        # Channels whose progress (a checkpoint or their end) the current slice carries.
        self.slice_channels: set[str] = set()
        # Why the fan-out stopped, if it failed: the slice that saw it ends there and is
        # loaded (rows and checkpoints consumed so far); then the load raises it.
        self.failure: BaseException | None = None

    def take_reconciliations(self) -> list[tuple[Any, ...]]:
        out, self.reconciliations = self.reconciliations, []
        return out

    def fanout(self, factory: Any) -> HistoryFanout:
        if self._fan is None:
            self._fan = factory()
        return self._fan

    def prestart(self, fan: HistoryFanout) -> None:
        """Start fetching history now, while dlt still extracts the metadata resources."""
        if self._fan is None:
            self._fan = fan.start()

    @property
    def finished(self) -> bool:
        return self._fan is not None and self._fan.finished

    def close(self) -> None:
        if self._fan is not None:
            self._fan.close()


def _resources(ctx: SlackContext, channel_ids: list[str] | None,
               seed_states: dict[str, dict[str, Any]] | None = None,
               stream: MessageStream | None = None) -> list[DltResource]:
    settings = ctx.settings

    @dlt.resource(name="channels", primary_key="id", write_disposition="merge")
    def channels() -> Iterator[list[dict[str, Any]]]:
        yield [dict(ch) for ch in ctx.plan().selected]

    @dlt.resource(name="users", primary_key="id", write_disposition="merge")
    def users() -> Iterator[list[dict[str, Any]]]:
        out: list[dict[str, Any]] = []

        async def fetch() -> None:
            async with client_for(ctx.token, settings) as client:
                ctx.progress.attach_stats(client.stats)
                async for page in client.paginate("users.list"):
                    out.extend(page.get("members") or [])

        try:
            run_async(fetch)
        except SlackRetryExhaustedError as exc:
            ctx.failed(exc)  # the pages read are whole users: merging them is harmless
        yield out

    # merge_key channel_id: each channel read replaces its members (delete-insert), so
    # members who left are removed; a channel that failed to read keeps its last members.
    @dlt.resource(name="channel_members", primary_key=("channel_id", "user_id"),
                  merge_key="channel_id", write_disposition="merge")
    def channel_members() -> Iterator[list[dict[str, Any]]]:
        ids = _history_ids(ctx, channel_ids)

        async def fetch() -> list[dict[str, Any]]:
            rows: list[dict[str, Any]] = []
            gate = asyncio.Semaphore(settings.max_concurrent_channels)
            async with client_for(ctx.token, settings) as client:
                ctx.progress.attach_stats(client.stats)

                async def one(cid: str) -> None:
                    # only a channel's whole list: merge_key replaces its members with it
                    members: list[dict[str, Any]] = []
                    async with gate:
                        try:
                            async for page in client.paginate("conversations.members",
                                                              channel=cid):
                                members.extend({"channel_id": cid, "user_id": u}
                                               for u in page.get("members") or [])
                        except SlackResourceError as exc:
                            ctx.progress.channel_skipped(cid, exc.code)
                            return
                        except SlackRetryExhaustedError as exc:
                            ctx.failed(exc)  # keeps its last members
                            return
                    rows.extend(members)

                async with asyncio.TaskGroup() as tg:
                    for cid in ids:
                        tg.create_task(one(cid))
            return rows

        yield run_async(fetch)

    @dlt.resource(name="team", primary_key="id", write_disposition="merge")
    def team() -> Iterator[dict[str, Any]]:
        async def fetch() -> dict[str, Any]:
            async with client_for(ctx.token, settings) as client:
                ctx.progress.attach_stats(client.stats)
                return (await client.call("team.info"))["team"]

        try:
            row = run_async(fetch)
        except SlackRetryExhaustedError as exc:
            ctx.failed(exc)
            return
        yield row

    hints = COLUMN_HINTS if settings.fast_path else {
        "ts": {"data_type": "text"}, "thread_ts": {"data_type": "text"},
        "is_deleted": {"data_type": "bool", "nullable": True},
        "deleted_at": {"data_type": "timestamp", "nullable": True}}
    stream = stream or MessageStream()

    @dlt.resource(name="messages", primary_key=("channel_id", "ts"), write_disposition="merge",
                  columns=hints)
    def messages() -> Iterator[Any]:
        state = dlt.current.resource_state()
        channel_states: dict[str, Any] = state.setdefault("channels", {})
        fan = stream.fanout(lambda: HistoryFanout(
            ctx.token, settings, _history_ids(ctx, channel_ids),
            merge_states(channel_states, seed_states or {}), ctx.progress))
        batch: list[dict[str, Any]] = []
        rows_in_slice = 0
        slice_end = (time.monotonic() + settings.slice_seconds if settings.slice_seconds
                     else float("inf"))
        stream.slice_channels = set()
        # Keys already in this slice (one load package): a thread re-read after a deleted
        # reply, say, reads some replies twice. Dropping repeats here lets DuckDB merge the
        # package without its de-duplication window, which holds every row in memory.
        keys: set[tuple[str, str]] = set()

        def flush() -> Any:
            rows, batch[:] = list(batch), []
            if settings.fast_path:
                return messages_to_arrow(rows)
            return [message_to_row(r) for r in rows]

        while True:
            try:
                item = fan.next_item(timeout=IDLE_CHECK_S)
            except Exception as exc:  # noqa: BLE001 - raised by run_load after this slice loads
                stream.failure = exc
                break
            kind = item[0]
            if kind == "end":
                break
            if kind == "idle":
                # Slack is slow or retrying: commit the checkpoints consumed once time is up
                if stream.slice_channels and time.monotonic() >= slice_end:
                    break
                continue
            if kind == "rows":
                fresh = _new_rows(item[1], keys)
                batch.extend(fresh)
                rows_in_slice += len(fresh)
                if len(batch) >= settings.batch_rows:
                    yield flush()
            elif kind == "reconcile":
                stream.reconciliations.append(item[1:])
            elif kind in ("checkpoint", "done"):
                if batch:
                    yield flush()
                channel_states[item[1]] = item[2]
                stream.slice_channels.add(item[1])
                if ((settings.slice_rows and rows_in_slice >= settings.slice_rows)
                        or time.monotonic() >= slice_end):
                    return  # end this slice at a checkpoint; the fan-out keeps going
        if batch:
            yield flush()

    messages.apply_hints(additional_table_hints={"x-stage-data-deduplicated": True})
    return [team, channels, users, channel_members, messages]


def _new_rows(rows: list[dict[str, Any]], keys: set[tuple[str, str]]) -> list[dict[str, Any]]:
    """Rows whose (channel_id, ts) is not in `keys` yet (the first read wins), recorded."""
    fresh = []
    for row in rows:
        key = (row["channel_id"], row["ts"])
        if key not in keys:
            keys.add(key)
            fresh.append(row)
    return fresh


def channel_states_of(state: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """The messages resource's per-channel states in a dlt pipeline state ({} if none)."""
    try:
        return dict(state["sources"]["slack"]["resources"]["messages"]["channels"] or {})
    except (KeyError, TypeError):
        return {}


def saved_channel_states(pipeline: Any) -> dict[str, dict[str, Any]]:
    """The messages resource's per-channel state as committed in the pipeline."""
    return channel_states_of(pipeline.state)


def start_history(pipeline: Any, ctx: SlackContext, stream: MessageStream,
                  channel_ids: list[str] | None,
                  seed_states: dict[str, dict[str, Any]] | None) -> None:
    """Start the history fan-out before extraction begins, from the committed state."""
    states = merge_states(saved_channel_states(pipeline), seed_states or {})
    stream.prestart(HistoryFanout(ctx.token, ctx.settings, _history_ids(ctx, channel_ids),
                                  states, ctx.progress))


def _history_ids(ctx: SlackContext, channel_ids: list[str] | None) -> list[str]:
    readable = ctx.plan().readable_ids
    if channel_ids is None:
        return readable
    wanted = set(channel_ids)
    return [cid for cid in readable if cid in wanted]


@dlt.source(name="slack", section="slack", max_table_nesting=MAX_TABLE_NESTING)
def slack_source(
    access_token: str = dlt.secrets.value,
    base_url: str = "https://slack.com/api/",
    profile: str = "internal",
    time_scale: float = 1.0,
    start_date: str | None = None,
    end_date: str | None = None,
    channels: list[str] | None = None,
    exclude_channels: list[str] | None = None,
    include_private: bool = True,
    exclude_archived: bool = False,
    auto_join: bool = False,
    replies: bool = True,
    lookback_days: float = 7.0,
    max_concurrent_channels: int = 16,
    max_in_flight: int = 32,
    fast_path: bool = True,
    limits: dict[str, Any] | None = None,
) -> list[DltResource]:
    """Slack workspace as a dlt source, configured from `[sources.slack]`."""
    settings = LoadSettings.from_mapping({
        "base_url": base_url, "profile": profile, "time_scale": time_scale,
        "start_date": start_date, "end_date": end_date, "channels": channels,
        "exclude_channels": exclude_channels, "include_private": include_private,
        "exclude_archived": exclude_archived, "auto_join": auto_join, "replies": replies,
        "lookback_days": lookback_days, "max_concurrent_channels": max_concurrent_channels,
        "max_in_flight": max_in_flight, "fast_path": fast_path, "limits": limits or {},
    })
    ctx = SlackContext(check_token(access_token), settings, LoadProgress())
    return _resources(ctx, None)
