"""DMs (`im`) and group DMs (`mpim`) in the load: listed with the channels, loaded into
`channels` (with `is_im` / `is_mpim` / `user`), `messages` (threads included) and
`channel_members`, exactly as the simulator's truth has them, run after run; `--no-dms` /
`--no-group-dms` leave out exactly those; a token without the DM scopes loads the rest and
says why."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import replace
from typing import Any

import pytest

from ingest.cli.report import channel_label as cli_label
from ingest.load.journal import Journal
from ingest.load.run import Target, run_load
from ingest.simulator import SimulatorThread, Workspace
from ingest.slack import SlackMissingScopeError
from ingest.source import LoadSettings, list_channels, plan_from_list
from ingest.source.selection import channel_label, conversation_types
from ingest.source.settings import ConfigError
from tests.integration.helpers import assert_matches_truth, load, query, settings_for

# ---------------------------------------------------------------- selection (no Slack)

ROWS = [
    {"id": "C1", "name": "general", "is_channel": True, "is_member": True},
    {"id": "C2", "name": "secret", "is_private": True, "is_member": True},
    {"id": "D1", "is_im": True, "user": "U7", "is_archived": False},
    {
        "id": "G1",
        "name": "mpdm-ann--bob--cid-1",
        "is_mpim": True,
        "is_private": True,
        "is_member": True,
    },
]


def _plan(**kw: Any) -> Any:
    return plan_from_list([dict(r) for r in ROWS], LoadSettings(**kw).validate())


def test_types_and_selection_follow_each_kinds_own_setting():
    assert conversation_types(LoadSettings().validate()) == [
        "public_channel",
        "private_channel",
        "im",
        "mpim",
    ]
    assert conversation_types(
        LoadSettings(include_private=False, include_dms=False).validate()
    ) == ["public_channel", "mpim"]
    # a listed DM is readable (an im carries no is_member), never joined
    plan = _plan(auto_join=True)
    assert plan.readable_ids == ["C1", "C2", "D1", "G1"] and plan.to_join == []
    # --no-private is about private channels: group DMs (is_private too) stay
    assert _plan(include_private=False).readable_ids == ["C1", "D1", "G1"]
    assert _plan(include_dms=False).readable_ids == ["C1", "C2", "G1"]
    assert _plan(include_group_dms=False).readable_ids == ["C1", "C2", "D1"]


def test_dms_are_selected_by_id_and_group_dms_by_name_and_labelled_as_dms():
    assert _plan(channels=("D1", "mpdm-ann--bob--cid-1")).readable_ids == ["D1", "G1"]
    assert _plan(exclude_channels=("D1", "#mpdm-ann--bob--cid-1")).readable_ids == ["C1", "C2"]
    with pytest.raises(ConfigError, match=r"unknown channel\(s\) in channels: D9 .*--no-dms"):
        plan_from_list(
            [r for r in ROWS if not r.get("is_im")],
            LoadSettings(channels=("D9",), include_dms=False).validate(),
        )
    by_id = {r["id"]: r for r in ROWS}
    assert channel_label(by_id["D1"]) == "DM with U7 (D1)"
    assert channel_label(by_id["G1"]) == "group DM mpdm-ann--bob--cid-1 (G1)"
    assert channel_label(by_id["C1"]) == "#general (C1)"
    # the run's summary tables (names by id; an im has none)
    names = {r["id"]: str(r.get("name") or "") for r in ROWS}
    assert cli_label("D1", names) == "DM D1" and cli_label("C1", names) == "#general (C1)"
    assert cli_label("G1", names) == "group DM mpdm-ann--bob--cid-1 (G1)"


class _ScopedLister:
    """conversations.list for a token with `scopes`, answering like Slack (missing_scope
    with needed/provided)."""

    SCOPE = {
        "public_channel": "channels:read",
        "private_channel": "groups:read",
        "im": "im:read",
        "mpim": "mpim:read",
    }

    def __init__(self, scopes: set[str]) -> None:
        self.scopes, self.asked = scopes, []  # type: ignore[var-annotated]

    async def paginate(self, method: str, **params: Any) -> Any:
        types = params["types"].split(",")
        self.asked.append(types)
        missing = sorted({self.SCOPE[t] for t in types} - self.scopes)
        if missing:
            raise SlackMissingScopeError(
                method, needed=",".join(missing), provided=",".join(sorted(self.scopes))
            )
        yield {"channels": []}


def test_a_token_lacking_a_dm_read_scope_lists_the_rest_and_says_so():
    s = LoadSettings().validate()
    client = _ScopedLister({"channels:read", "groups:read", "mpim:read"})
    notes: list[str] = []
    asyncio.run(list_channels(client, s, notes))
    assert client.asked[-1] == ["public_channel", "private_channel", "mpim"]
    assert notes == ["DMs skipped: the token lacks im:read (add the scope, or pass --no-dms)"]
    # a channel scope it lacks is still a failure (a user mistake the run explains)
    with pytest.raises(SlackMissingScopeError):
        asyncio.run(list_channels(_ScopedLister({"groups:read", "im:read", "mpim:read"}), s))


# ---------------------------------------------------------------- loads (simulator)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """A tiny workspace served on loopback, loaded once into DuckDB (default settings)."""
    ws = Workspace.generate(size="tiny", seed=41)
    base = tmp_path_factory.mktemp("dms")
    with SimulatorThread(ws, profile="unlimited") as sim:
        target = _target(base, "main")
        first = load(sim, target)
        yield {"ws": ws, "sim": sim, "target": target, "first": first, "base": base}


def _target(base: Any, name: str) -> Target:
    return Target(
        duckdb_path=str(base / f"{name}.duckdb"),
        dataset="slack",
        pipelines_dir=str(base / f"{name}-pipelines"),
    )


def _channel_flags(target: Target) -> dict[str, tuple[Any, Any, Any]]:
    rows = query(target, "select id, is_im, is_mpim, user from slack.channels")
    return {cid: (im, mpim, user) for cid, im, mpim, user in rows}


def test_the_default_load_has_the_dms_exactly(env):
    ws, target = env["ws"], env["target"]
    truth = ws.truth()
    assert truth.dm_ids and truth.group_dm_ids, "the workspace has DMs and group DMs"
    assert_matches_truth(target, truth)
    flags = _channel_flags(target)
    users = set(truth.user_ids)
    for cid, (im, mpim, user) in flags.items():
        assert im is (cid in truth.dm_ids) and mpim is (cid in truth.group_dm_ids), cid
        assert (user in users) if im else user is None, (cid, user)
    # history, threads and members of DMs really loaded
    dm_ids = truth.dm_ids | truth.group_dm_ids
    assert {c for c, _ in truth.messages} & dm_ids == dm_ids & truth.readable_channel_ids
    assert {c for c, _ in truth.members} >= dm_ids
    assert not set(env["first"].progress["skipped"]) & dm_ids
    # DMs the bot is not part of (humans only) are invisible to it: never loaded
    hidden = _humans_only(ws)
    assert hidden, "the workspace has humans-only DMs"
    assert not hidden & set(flags)
    assert not hidden & {
        c for (c,) in query(target, "select distinct channel_id from slack.messages")
    }


def _humans_only(ws: Workspace) -> set[str]:
    return {ch.id for ch in ws.dms if ch.id not in ws.truth().channel_ids}


def test_changes_in_dms_load_exactly_on_the_next_run(env):
    ws, sim, target = env["ws"], env["sim"], env["target"]
    truth = ws.truth()
    im = sorted(truth.dm_ids & truth.readable_channel_ids)[0]
    mpim = sorted(truth.group_dm_ids & truth.readable_channel_ids)[0]
    posted = ws.post_message(im, text="a new DM")
    reply = ws.add_reply(im, posted, text="a reply in a DM thread")
    edited = _top_level(target, mpim)[0]
    ws.edit_message(mpim, edited, "an edited group DM")
    deleted = _top_level(target, im)[-1]
    ws.delete_message(im, deleted)
    counts = ws.mutate(rng_seed=7, n=30)
    assert sum(counts.values()) > 0
    load(sim, target)
    assert_matches_truth(target, ws.truth())
    rows = {
        (c, t): (text, bool(gone))
        for c, t, text, gone in query(
            target, "select channel_id, ts, text, coalesce(is_deleted, false) from slack.messages"
        )
    }
    assert (im, posted) in rows and (im, reply) in rows
    assert rows[(mpim, edited)] == ("an edited group DM", False)
    assert rows[(im, deleted)][1], "the deleted DM message is marked deleted"


def _top_level(target: Target, cid: str) -> list[str]:
    rows = query(
        target,
        f"select ts from slack.messages where channel_id = '{cid}' and not coalesce(is_deleted, "
        "false) and (thread_ts is null or thread_ts = ts) and subtype is null order by ts",
    )
    assert rows, cid
    return [r[0] for r in rows]


def _without(truth: Any, left_out: set[str]) -> dict[str, set[Any]]:
    return {
        "channels": set(truth.channel_ids) - left_out,
        "messages": {k for k in truth.messages if k[0] not in left_out},
        "members": {k for k in truth.members if k[0] not in left_out},
    }


def _loaded(target: Target) -> dict[str, set[Any]]:
    def keys(sql: str) -> set[Any]:
        rows = query(target, sql)
        assert len(rows) == len(set(rows)), f"duplicates in {sql}"
        return set(rows)

    return {
        "channels": {c for (c,) in keys("select id from slack.channels")},
        "messages": keys(
            "select channel_id, ts from slack.messages where not coalesce(is_deleted, false)"
        ),
        "members": keys("select channel_id, user_id from slack.channel_members"),
    }


@pytest.mark.parametrize(
    ("flags", "kind"),
    [({"include_dms": False}, "dm_ids"), ({"include_group_dms": False}, "group_dm_ids")],
)
def test_no_dms_and_no_group_dms_leave_out_exactly_those(env, flags, kind):
    ws, sim = env["ws"], env["sim"]
    target = _target(env["base"], f"no-{kind}")
    load(sim, target, **flags)
    truth = ws.truth()
    assert _loaded(target) == _without(truth, set(getattr(truth, kind)))


def test_a_token_without_dm_scopes_loads_the_rest_and_says_why(env):
    """No im:read: DMs are not listed; no mpim:history: group DMs are listed (channels
    table, members) but their history is not read, each skipped with the reason."""
    from ingest.simulator.api import ALL_SCOPES

    ws, sim = env["ws"], env["sim"]
    token = "xoxb-sim-41-without-im-read"
    sim.add_token(token, scopes=set(ALL_SCOPES) - {"im:read", "mpim:history"})
    target = _target(env["base"], "scopes")
    result = run_load(token, settings_for(sim), target)
    truth = ws.truth()
    expected = _without(truth, set(truth.dm_ids))
    expected["messages"] = {k for k in expected["messages"] if k[0] not in truth.group_dm_ids}
    assert truth.group_dm_ids <= expected["channels"]
    assert _loaded(target) == expected
    why = "the token lacks mpim:history (add the scope, or pass --no-group-dms)"
    skipped = result.progress["skipped"]
    assert {c for c, w in skipped.items() if w == why} == set(truth.group_dm_ids)
    assert not set(skipped) & truth.dm_ids
    said = "DMs skipped: the token lacks im:read (add the scope, or pass --no-dms)"
    assert result.progress["notes"].count(said) == 1


def test_captured_changes_to_old_dm_threads_are_applied(env):
    """The listener's path: Slack's events for DMs (channel_type im / mpim), recorded in the
    journal, make the next run re-read the old DM threads and mark the deletion."""
    ws, sim = env["ws"], env["sim"]
    target = replace(_target(env["base"], "listen"), journal_path=str(env["base"] / "j.sqlite"))
    lookback = {"lookback_days": 1.0}
    run_load(ws.token, settings_for(sim, **lookback), target)
    truth = ws.truth()
    dms = sorted((truth.dm_ids | truth.group_dm_ids) & truth.readable_channel_ids)
    ids = itertools.count()
    with Journal(target.journal_file()) as journal:
        unsubscribe = ws.subscribe(
            lambda e: journal.record({"event_id": f"EvDM{next(ids)}", "event": e})
        )
        try:
            changed = _change_old_messages(ws, target, dms)
        finally:
            unsubscribe()
        types = {e.get("channel_type") for _, e in journal.pending()}
    assert types >= {"im", "mpim"}, types
    run_load(ws.token, settings_for(sim, **lookback), target)
    assert_matches_truth(target, ws.truth())
    rows = {
        (c, t): (text, bool(gone))
        for c, t, text, gone in query(
            target, "select channel_id, ts, text, coalesce(is_deleted, false) from slack.messages"
        )
    }
    for key, want in changed.items():
        assert rows[key] == want, key


def _change_old_messages(
    ws: Workspace, target: Target, dms: list[str]
) -> dict[tuple[str, str], tuple[str | None, bool]]:
    """An edit, a reply and a deletion of year-old messages in each DM kind."""
    out: dict[tuple[str, str], tuple[str | None, bool]] = {}
    for cid in dms:
        old = _top_level(target, cid)
        if len(old) < 3:
            continue
        ws.edit_message(cid, old[0], f"edited long after ({cid})")
        out[(cid, old[0])] = (f"edited long after ({cid})", False)
        reply = ws.add_reply(cid, old[1], text="a reply to an old DM")
        out[(cid, reply)] = ("a reply to an old DM", False)
        ws.delete_message(cid, old[2])
        out[(cid, old[2])] = (query(target, _text_sql(cid, old[2]))[0][0], True)
    return out


def _text_sql(cid: str, ts: str) -> str:
    return f"select text from slack.messages where channel_id = '{cid}' and ts = '{ts}'"


def test_a_user_token_loads_that_users_dms_too(env):
    """A user token (`xoxp-`) reads the DMs of its user, humans-only ones included, which
    the bot never sees: the load equals the simulator's truth for that user."""
    ws, sim = env["ws"], env["sim"]
    target = _target(env["base"], "user")
    run_load(ws.user_token, settings_for(sim), target)
    truth = ws.truth(as_user=True)
    assert_matches_truth(target, truth)
    bots_view = ws.truth()
    humans_only = (truth.dm_ids | truth.group_dm_ids) - bots_view.channel_ids
    assert humans_only, "user 0 is in a DM without the bot"
    loaded = {r[0] for r in query(target, "select distinct channel_id from slack.messages")}
    assert humans_only <= loaded
