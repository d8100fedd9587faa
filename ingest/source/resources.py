"""The dlt source: channels, users, channel_members, messages (history + replies, and
their reactions), team, files (+ file_shares), usergroups (+ usergroup_members).

One plain function per resource, dlt-style. `make_source(token, settings)` is what the
pipeline and the flows call; `slack_source` is the same source with dlt's config injection
(`[sources.slack]` in .dlt/config.toml and secrets.toml, or SOURCES__SLACK__* environment
variables) for use from any dlt pipeline. Resource arguments have no defaults on purpose:
dlt would otherwise try to inject them from config.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterator
from typing import Any, cast

import dlt
from dlt.common.schema.typing import TColumnSchema
from dlt.sources import DltResource

from ingest.slack import SlackResourceError, SlackRetryExhaustedError
from ingest.source.arrow import COLUMN_HINTS
from ingest.source.columns import CHANNEL_HINTS, USER_HINTS, channel_row, user_row
from ingest.source.connect import client_for, run_async
from ingest.source.context import SlackContext
from ingest.source.cursors import merge_states
from ingest.source.fanout import HistoryFanout
from ingest.source.files import files
from ingest.source.org import stamp_team
from ingest.source.progress import LoadProgress
from ingest.source.reactions import declare_reactions
from ingest.source.settings import LoadSettings, check_token, clean_overrides, schema_fields
from ingest.source.slices import MessageStream, write_slice
from ingest.source.usergroups import usergroups

# Relational path: lists one level down become child tables (messages__reactions, ...);
# deeper structures (blocks' elements) stay JSON. Unbounded nesting turns Slack's block kit
# into hundreds of tables.
MAX_TABLE_NESTING = 1
#: The messages table's column hints on the relational (not fast) path.
RELATIONAL_HINTS: dict[str, dict[str, Any]] = {
    "ts": {"data_type": "text"},
    "thread_ts": {"data_type": "text"},
    "is_deleted": {"data_type": "bool", "nullable": True},
    "deleted_at": {"data_type": "timestamp", "nullable": True},
    "edited_at": {"data_type": "timestamp", "nullable": True},
    "latest_reply_at": {"data_type": "timestamp", "nullable": True},
}


@dlt.resource(
    name="channels",
    primary_key="id",
    write_disposition="merge",
    columns=cast(dict[str, TColumnSchema], CHANNEL_HINTS),
)
def channels(ctx: SlackContext) -> Iterator[list[dict[str, Any]]]:
    yield [channel_row(ch, ctx.pii) for ch in ctx.plan().selected]


@dlt.resource(
    name="users",
    primary_key="id",
    write_disposition="merge",
    columns=cast(dict[str, TColumnSchema], USER_HINTS),
)
def users(ctx: SlackContext) -> Iterator[list[dict[str, Any]]]:
    out: list[dict[str, Any]] = []

    async def fetch() -> None:
        async with client_for(ctx.token, ctx.settings) as client:
            ctx.progress.attach_stats(client.stats)
            async for page in client.paginate("users.list"):
                out.extend(page.get("members") or [])

    try:
        run_async(fetch)
    except SlackRetryExhaustedError as exc:
        ctx.failed(exc)  # the pages read are whole users: merging them is harmless
    yield [user_row(u, ctx.pii) for u in out]


# merge_key channel_id: each channel read replaces its members (delete-insert), so
# members who left are removed; a channel that failed to read keeps its last members.
@dlt.resource(
    name="channel_members",
    primary_key=("channel_id", "user_id"),
    merge_key="channel_id",
    write_disposition="merge",
)
def channel_members(
    ctx: SlackContext, channel_ids: list[str] | None
) -> Iterator[list[dict[str, Any]]]:
    ids = ctx.history_ids(channel_ids)
    yield run_async(lambda: _read_members(ctx, ids))


async def _read_members(ctx: SlackContext, ids: list[str]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    gate = asyncio.Semaphore(ctx.settings.max_concurrent_channels)
    async with client_for(ctx.token, ctx.settings) as client:
        ctx.progress.attach_stats(client.stats)

        async def one(cid: str) -> None:
            # only a channel's whole list: merge_key replaces its members with it
            members: list[dict[str, Any]] = []
            async with gate:
                try:
                    async for page in client.paginate("conversations.members", channel=cid):
                        members.extend(
                            {"channel_id": cid, "user_id": u} for u in page.get("members") or []
                        )
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


@dlt.resource(name="team", primary_key="id", write_disposition="merge")
def team(ctx: SlackContext) -> Iterator[dict[str, Any]]:
    async def fetch() -> dict[str, Any]:
        async with client_for(ctx.token, ctx.settings) as client:
            ctx.progress.attach_stats(client.stats)
            info: dict[str, Any] = (await client.call("team.info"))["team"]
            return info

    try:
        row = run_async(fetch)
    except SlackRetryExhaustedError as exc:
        ctx.failed(exc)
        return
    yield row


def messages(
    ctx: SlackContext,
    channel_ids: list[str] | None,
    seed_states: dict[str, dict[str, Any]] | None,
    stream: MessageStream,
) -> Iterator[Any]:
    """History and replies, one slice per extract (`messages_resource` makes it a
    resource: its column hints depend on the settings)."""
    channel_states: dict[str, Any] = dlt.current.resource_state().setdefault("channels", {})
    fan = stream.fanout(
        lambda: HistoryFanout(
            ctx.token,
            ctx.settings,
            ctx.history_ids(channel_ids),
            merge_states(channel_states, seed_states or {}),
            ctx.progress,
            **ctx.fanout_options(),
        )
    )
    yield from write_slice(fan, stream, channel_states, ctx.settings, ctx.pii)


def messages_resource(
    ctx: SlackContext,
    channel_ids: list[str] | None,
    seed_states: dict[str, dict[str, Any]] | None,
    stream: MessageStream,
) -> DltResource:
    hints = COLUMN_HINTS if ctx.settings.fast_path else RELATIONAL_HINTS
    resource = dlt.resource(
        messages,
        name="messages",
        primary_key=("channel_id", "ts"),
        write_disposition="merge",
        columns=cast(dict[str, TColumnSchema], hints),
    )(ctx, channel_ids, seed_states, stream)
    resource.apply_hints(additional_table_hints={"x-stage-data-deduplicated": True})
    return declare_reactions(resource)  # it also writes the reactions table


def slack_resources(
    ctx: SlackContext,
    channel_ids: list[str] | None = None,
    seed_states: dict[str, dict[str, Any]] | None = None,
    stream: MessageStream | None = None,
) -> list[DltResource]:
    """The source's resources, in the order dlt extracts them."""
    return [
        team(ctx),
        channels(ctx),
        users(ctx),
        channel_members(ctx, channel_ids),
        files(ctx),
        usergroups(ctx),
        messages_resource(ctx, channel_ids, seed_states, stream or MessageStream()),
    ]


def make_source(
    token: str,
    settings: LoadSettings,
    *,
    progress: LoadProgress | None = None,
    channel_ids: list[str] | None = None,
    include: tuple[str, ...] | None = None,
    seed_states: dict[str, dict[str, Any]] | None = None,
    stream: MessageStream | None = None,
    context: SlackContext | None = None,
) -> Any:
    """Build the source. `channel_ids` restricts history to those channels (a shard);
    `include` names the resources to select (default: all)."""
    token = check_token(token)
    settings = settings.validate()
    ctx = context or SlackContext(token, settings, progress or LoadProgress())

    @dlt.source(name="slack", max_table_nesting=MAX_TABLE_NESTING)
    def _slack() -> list[DltResource]:
        return slack_resources(ctx, channel_ids, seed_states, stream)

    src = _slack()
    if include is not None:
        src = src.with_resources(*include)
    for resource in src.selected_resources.values():
        resource.add_map(stamp_team(ctx.team_id))  # every table: the workspace of its rows
    return src


def channel_states_of(state: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """The messages resource's per-channel states in a dlt pipeline state ({} if none)."""
    if state is None:
        return {}
    try:
        return dict(state["sources"]["slack"]["resources"]["messages"]["channels"] or {})
    except (KeyError, TypeError):
        return {}


def saved_channel_states(pipeline: Any) -> dict[str, dict[str, Any]]:
    """The messages resource's per-channel state as committed in the pipeline."""
    return channel_states_of(pipeline.state)


def start_history(
    pipeline: Any,
    ctx: SlackContext,
    stream: MessageStream,
    channel_ids: list[str] | None,
    seed_states: dict[str, dict[str, Any]] | None,
) -> None:
    """Start the history fan-out before extraction begins, from the committed state."""
    states = merge_states(saved_channel_states(pipeline), seed_states or {})
    stream.prestart(
        HistoryFanout(
            ctx.token,
            ctx.settings,
            ctx.history_ids(channel_ids),
            states,
            ctx.progress,
            **ctx.fanout_options(),
        )
    )


def _source_signature() -> inspect.Signature:
    """`slack_source`'s parameters, derived from the settings schema: the token (a dlt
    secret), then every `LoadSettings` field as an optional config value (None = the
    schema's default). dlt injects config by these parameters' names."""
    params = [
        inspect.Parameter(
            "access_token",
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            default=dlt.secrets.value,
            annotation=str,
        )
    ]
    for f in schema_fields(LoadSettings):
        params.append(
            inspect.Parameter(
                f.name,
                inspect.Parameter.KEYWORD_ONLY,
                default=None,
                annotation=f.kind | None,
            )
        )
    return inspect.Signature(params, return_annotation=list[DltResource])


def _slack_source(access_token: str = dlt.secrets.value, **settings: Any) -> list[DltResource]:
    """Slack workspace as a dlt source, configured from `[sources.slack]` (every
    `LoadSettings` field; unset ones keep the schema's defaults)."""
    loaded = LoadSettings.from_mapping(clean_overrides(settings))
    ctx = SlackContext(check_token(access_token), loaded, LoadProgress())
    return slack_resources(ctx)


# dlt reads a source's config parameters from `inspect.signature`, which honours
# `__signature__`: the settings are declared once, in the schema.
setattr(_slack_source, "__signature__", _source_signature())  # noqa: B010
slack_source = dlt.source(name="slack", section="slack", max_table_nesting=MAX_TABLE_NESTING)(
    _slack_source
)
