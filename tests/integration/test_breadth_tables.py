"""files, file_shares, usergroups, usergroup_members and reactions: loaded into DuckDB from
the simulator and compared with its `truth(full=True)` exactly (keys, no duplicates),
before and after a round of mutations (reactions added and removed on old messages, a
message with reactions deleted, a message's last reaction removed); the relational path's
reactions; `--no-files` / `--no-usergroups`; a token without `files:read`."""

from __future__ import annotations

from typing import Any

import pytest

from ingest.load.run import Target, run_load
from ingest.simulator import SimulatorThread, Workspace
from ingest.simulator.api import ALL_SCOPES
from tests.integration.helpers import load, query, settings_for

SEED = 31
KEYS = {
    "files": "select id from slack.files",
    "file_shares": "select file_id, channel_id, ts from slack.file_shares",
    "usergroups": "select id from slack.usergroups",
    "usergroup_members": "select usergroup_id, user_id from slack.usergroup_members",
    "reactions": 'select channel_id, ts, name, "user" from slack.reactions',
}


def loaded_keys(target: Target) -> dict[str, list[Any]]:
    return {
        table: [r[0] if len(r) == 1 else tuple(r) for r in query(target, sql)]
        for table, sql in KEYS.items()
    }


def assert_tables_match(target: Target, ws: Workspace) -> dict[str, list[Any]]:
    truth = ws.truth(full=True)
    got = loaded_keys(target)
    for table, rows in got.items():
        assert len(rows) == len(set(rows)), f"{table} has duplicate keys"
        want = set(getattr(truth, table))
        assert want, f"the workspace has no {table}: the check would prove nothing"
        assert set(rows) == want, (
            f"{table}: missing {sorted(want - set(rows))[:5]}, extra {sorted(set(rows) - want)[:5]}"
        )
    return got


def _top_level_with_reactions(ws: Workspace) -> list[tuple[str, str]]:
    out = []
    for cid, ts in sorted(ws.truth().messages):
        msg = ws.message(cid, ts) or {}
        top = msg.get("thread_ts") in (None, ts) and msg.get("subtype") is None
        if top and msg.get("reactions") and not msg.get("reply_count"):
            out.append((cid, ts))
    return out


def _change_reactions(ws: Workspace) -> tuple[tuple[str, str], ...]:
    """The last reactions of one message go (its rows must go too), another gets a new
    one, a third one is deleted with its reactions."""
    emptied, added, deleted = _top_level_with_reactions(ws)[:3]
    for r in ws.message(*emptied)["reactions"]:
        for user in r["users"]:
            ws.remove_reaction(*emptied, r["name"], user)
    fresh = next(u.id for u in ws.users if not u.deleted and not u.is_bot)
    ws.add_reaction(*added, "rocket", fresh)
    ws.delete_message(*deleted)
    return emptied, added, deleted


def _mutation_seed() -> int:
    """A `mutate` seed whose reaction changes all land on top-level messages (re-read by
    the lookback on every run). A reaction changed on a reply of an otherwise unchanged
    thread is not seen until that thread is re-read: Slack has no "reactions changed
    since" (ingest/source/reactions.py), so no load could match the truth there."""
    for seed in range(1, 100):
        ws = Workspace.generate("tiny", seed=SEED)
        _change_reactions(ws)
        before = ws.truth(full=True).reactions
        counts = ws.mutate(rng_seed=seed, n=25)
        changed = {r[:2] for r in before ^ ws.truth(full=True).reactions}
        replies = [
            k for k in changed if (ws.message(*k) or {}).get("thread_ts") not in (None, k[1])
        ]
        if counts["add_reaction"] and counts["remove_reaction"] and not replies:
            return seed
    raise AssertionError("no mutate seed changes reactions on top-level messages only")


@pytest.fixture(scope="module")
def rounds(tmp_path_factory):
    """One workspace loaded twice (fast path): as generated, then after mutations."""
    tmp = tmp_path_factory.mktemp("breadth")
    target = Target(duckdb_path=str(tmp / "w.duckdb"), pipelines_dir=str(tmp / "pl"))
    seed = _mutation_seed()
    ws = Workspace.generate("tiny", seed=SEED)
    with SimulatorThread(ws, profile="unlimited") as sim:
        first = load(sim, target)
        before = assert_tables_match(target, ws)
        emptied, added, deleted = _change_reactions(ws)
        counts = ws.mutate(rng_seed=seed, n=25)
        second = load(sim, target)
        after = assert_tables_match(target, ws)
    return {
        "target": target,
        "ws": ws,
        "first": first,
        "second": second,
        "before": before,
        "after": after,
        "changed": (emptied, added, deleted),
        "counts": counts,
    }


def test_tables_equal_truth_before_and_after_mutations(rounds):
    emptied, added, deleted = rounds["changed"]
    fresh_rows = {r[:2] for r in rounds["after"]["reactions"]}
    old_rows = {r[:2] for r in rounds["before"]["reactions"]}
    assert emptied in old_rows and emptied not in fresh_rows
    assert deleted in old_rows and deleted not in fresh_rows
    assert (*added, "rocket") in {r[:3] for r in rounds["after"]["reactions"]}
    assert rounds["counts"]["add_reaction"] + rounds["counts"]["remove_reaction"] > 0
    # the deleted message stays in messages, flagged; its reactions are gone
    flagged = query(
        rounds["target"],
        f"select is_deleted from slack.messages where channel_id = '{deleted[0]}' "
        f"and ts = '{deleted[1]}'",
    )
    assert flagged == [(True,)]
    # clear markers never reach the table
    assert query(rounds["target"], "select count(*) from slack.reactions where _clear")[0][0] == 0


def test_columns_are_typed_and_link_to_messages(rounds):
    target = rounds["target"]
    types = dict(
        query(
            target,
            "select table_name || '.' || column_name, data_type from information_schema.columns "
            "where table_schema = 'slack'",
        )
    )
    ts = "TIMESTAMP WITH TIME ZONE"
    for col in ("files.created", "files.timestamp", "usergroups.date_create"):
        assert types[col] == ts, col
    assert types["usergroups.date_delete"] == ts
    assert types["files.shares"] == types["files.channels"] == "JSON"
    assert types["reactions.count"] == "BIGINT" and types["reactions.ts_at"] == ts
    # every share points at a loaded message; disabled groups have date_delete, others null
    orphans = query(
        target,
        "select count(*) from slack.file_shares s left join slack.messages m "
        "on m.channel_id = s.channel_id and m.ts = s.ts where m.ts is null",
    )
    assert orphans == [(0,)]
    disabled = {g.id for g in rounds["ws"].usergroups if g.date_delete}
    assert disabled, "tiny has a disabled group"
    deleted_at = dict(query(target, "select id, date_delete from slack.usergroups"))
    assert {gid for gid, at in deleted_at.items() if at is not None} == disabled
    # reactions' count is Slack's count of the reaction
    wrong = query(
        target,
        "select count(*) from slack.reactions r join slack.messages m "
        "on m.channel_id = r.channel_id and m.ts = r.ts, "
        "unnest(from_json(m.reactions, '[\"json\"]')) as x(j) "
        "where j->>'name' = r.name and cast(j->>'count' as bigint) <> r.count",
    )
    assert wrong == [(0,)]


def test_relational_path_reactions_follow_a_removed_reaction(target):
    ws = Workspace.generate("tiny", seed=SEED + 1)
    kw = {"fast_path": False, "include_files": False, "include_usergroups": False}
    with SimulatorThread(ws, profile="unlimited") as sim:
        load(sim, target, **kw)
        got = query(target, KEYS["reactions"])
        assert len(got) == len(set(got)) and set(got) == ws.truth(full=True).reactions
        cid, ts = _top_level_with_reactions(ws)[0]
        r = ws.message(cid, ts)["reactions"][0]
        ws.remove_reaction(cid, ts, r["name"], r["users"][0])
        load(sim, target, **kw)
    got = query(target, KEYS["reactions"])
    assert len(got) == len(set(got)) and set(got) == ws.truth(full=True).reactions
    assert (cid, ts, r["name"], r["users"][0]) not in set(got)


def test_no_files_no_usergroups_make_no_calls(target):
    ws = Workspace.generate("tiny", seed=SEED + 2)
    with SimulatorThread(ws, profile="unlimited") as sim:
        load(sim, target, include_files=False, include_usergroups=False)
        methods = sim.stats()["methods"]
    assert methods.get("files.list", {}).get("requests", 0) == 0
    assert methods.get("usergroups.list", {}).get("requests", 0) == 0
    assert methods["conversations.history"]["requests"] > 0
    tables = {r[0] for r in query(target, "select table_name from information_schema.tables")}
    assert not tables & {"files", "file_shares", "usergroups", "usergroup_members"}


def test_token_without_files_scope_loads_the_rest_and_says_why(target):
    ws = Workspace.generate("tiny", seed=SEED + 3)
    token = "xoxb-sim-no-files-scope"
    with SimulatorThread(ws, profile="unlimited") as sim:
        sim.add_token(token, scopes=set(ALL_SCOPES) - {"files:read"})
        result = run_load(token, settings_for(sim), target)
    notes = [n for n in result.progress["notes"] if "files" in n]
    assert notes == [
        "files skipped: the token lacks the files:read scope (files.list); add files:read "
        "to the Slack app and reinstall it, or pass --no-files to stop asking"
    ]
    truth = ws.truth(full=True)
    assert set(query(target, KEYS["usergroups"])) == {(g,) for g in truth.usergroups}
    assert set(query(target, KEYS["reactions"])) == truth.reactions
    tables = {r[0] for r in query(target, "select table_name from information_schema.tables")}
    assert "files" not in tables and "file_shares" not in tables


def test_listener_reaction_events_reach_old_replies(tmp_path):
    """Reactions added to and removed from year-old thread replies and messages (out of
    the lookback): the listener's journal makes the next run re-read exactly those
    messages, so the reactions table equals the truth again."""
    import itertools

    from ingest.load.journal import Journal

    target = Target(
        duckdb_path=str(tmp_path / "r.duckdb"),
        pipelines_dir=str(tmp_path / "pl"),
        journal_path=str(tmp_path / "j.sqlite"),
    )
    ws = Workspace.generate("tiny", seed=SEED + 1)
    with SimulatorThread(ws, profile="unlimited") as sim:
        run_load(ws.token, settings_for(sim, lookback_days=1.0), target)
        truth = ws.truth(full=True)
        old = sorted(truth.reactions)
        replies = [r for r in old if (ws.message(r[0], r[1]) or {}).get("thread_ts") != r[1]]
        replies = [r for r in replies if ws.message(r[0], r[1]).get("thread_ts")]
        tops = [r for r in old if r not in replies]
        assert replies and tops, "the workspace needs reactions on replies and on messages"
        fresh = next(u.id for u in ws.users if not u.deleted and not u.is_bot)
        ids = itertools.count()
        with Journal(target.journal_file()) as journal:
            unsubscribe = ws.subscribe(
                lambda e: journal.record({"event_id": f"EvR{next(ids)}", "event": e})
            )
            try:
                ws.remove_reaction(*replies[0])
                ws.add_reaction(replies[-1][0], replies[-1][1], "tada", fresh)
                ws.remove_reaction(*tops[0])
            finally:
                unsubscribe()
            kinds = {e.get("type") for _, e in journal.pending()}
        assert kinds == {"reaction_added", "reaction_removed"}, kinds
        run_load(ws.token, settings_for(sim, lookback_days=1.0), target)
        with Journal(target.journal_file()) as journal:
            assert journal.pending() == []  # every reaction event applied and consumed
    loaded = [tuple(r) for r in query(target, KEYS["reactions"])]
    assert len(loaded) == len(set(loaded))
    assert set(loaded) == set(ws.truth(full=True).reactions)
