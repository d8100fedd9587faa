"""`--pii hash|drop`: no personal value of the workspace reaches the warehouse, dlt's files
(load packages, state, schemas) or the command's output; `hash` keeps ids and joins (the
same value hashes the same in `users` and in messages' `user_profile`); the salt appears
nowhere; a missing salt or an unknown mode is one line and exit 2.

One tiny workspace, two loads per module: `hash` through the CLI (fast path, a subprocess:
its output and --json summary are checked too) and `drop` in-process (relational path).
Slack attaches the author's `user_profile` to a person's message; the simulator does not,
so `ProfiledWorkspace` adds it the way Slack does.
"""

from __future__ import annotations

import gzip
import hashlib
import hmac
import json
import pickle
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest

from ingest.load.run import Target, run_load
from ingest.simulator import SimulatorThread, Workspace
from ingest.simulator.render import user_obj
from tests.integration.helpers import assert_matches_truth, settings_for
from tests.reliability.support import assert_one_line_failure, cli_env, load_args, run_cli

SALT = "pii-test-salt-Q7vX2mZk"
SEED = 3
#: Personal fields of a user (as `ingest/source/pii.py` lists them, written out again here:
#: a field the source forgets must fail this test).
USER_KEYS = ("name", "real_name")
PROFILE_KEYS = (
    "email",
    "phone",
    "skype",
    "pronouns",
    "real_name",
    "real_name_normalized",
    "display_name",
    "display_name_normalized",
    "first_name",
    "last_name",
    "avatar_hash",
)


class ProfiledWorkspace(Workspace):
    """Messages by people carry their author's `user_profile`, as Slack's do."""

    def render(self, ch: Any, us: int, ref: Any) -> dict[str, Any]:
        msg = super().render(ch, us, ref)
        user = self.users_by_id.get(msg.get("user") or "")
        if user is not None and not user.is_bot and msg.get("subtype") is None:
            p = user_obj(user, self.team_id)["profile"]
            msg["user_profile"] = {
                "avatar_hash": p["avatar_hash"],
                "image_72": p["image_72"],
                "first_name": p["first_name"],
                "real_name": p["real_name"],
                "display_name": p["display_name"],
                "team": self.team_id,
                "name": user.name,
                "is_restricted": False,
                "is_ultra_restricted": False,
            }
        return msg


def personal_values(ws: Workspace) -> set[str]:
    """Every non-empty personal value of the workspace's people (bots are apps: kept)."""
    out: set[str] = set()
    for u in ws.users:
        if u.is_bot:
            continue
        obj = user_obj(u, ws.team_id)
        out.update(obj[k] for k in USER_KEYS)
        profile = obj["profile"]
        out.update(
            v
            for k, v in profile.items()
            if isinstance(v, str) and (k in PROFILE_KEYS or k.startswith("image_"))
        )
    out.discard("")
    return out


def expected_hash(value: str) -> str:
    return "h:" + hmac.new(SALT.encode(), value.encode(), hashlib.sha256).hexdigest()


def warehouse_text(db: Path, dataset: str = "slack") -> str:
    """Every value of every column of every table in the dataset, as text."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = [
            r[0]
            for r in con.execute(
                "select table_name from information_schema.tables where table_schema = ?",
                [dataset],
            ).fetchall()
        ]
        parts = []
        for t in tables:
            cols = [
                r[0]
                for r in con.execute(
                    "select column_name from information_schema.columns "
                    "where table_schema = ? and table_name = ?",
                    [dataset, t],
                ).fetchall()
            ]
            select = ", ".join(f'cast("{c}" as varchar)' for c in cols)
            for row in con.execute(f'select {select} from "{dataset}"."{t}"').fetchall():
                parts.extend(str(v) for v in row if v is not None)
    finally:
        con.close()
    assert len(parts) > 1000  # the tables were read
    return "\n".join(parts)


def files_text(root: Path) -> str:
    """Every file under `root` as text: gzip decompressed, parquet read back."""
    parts = []
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        if path.suffix == ".parquet":
            parts.append(json.dumps(pq.read_table(path).to_pylist(), default=str))
            continue
        data = path.read_bytes()
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        parts.append(data.decode("utf-8", "replace"))
    assert parts
    return "\n".join(parts)


def assert_absent(text: str, values: set[str], where: str) -> None:
    leaked = sorted(v for v in values if v in text)
    assert not leaked, f"personal values in {where}: {leaked[:10]}"
    assert SALT not in text, f"the salt is in {where}"


@pytest.fixture(scope="module")
def workspace() -> ProfiledWorkspace:
    ws = ProfiledWorkspace.generate(size="tiny", seed=SEED)
    assert isinstance(ws, ProfiledWorkspace)
    return ws


@pytest.fixture(scope="module")
def sim(workspace):
    with SimulatorThread(workspace, profile="unlimited") as s:
        yield s


@pytest.fixture(scope="module")
def hashed(sim, tmp_path_factory):
    """`slack-ingest run --pii hash` (the salt from the environment), fast path."""
    tmp = tmp_path_factory.mktemp("pii_hash")
    db, pipelines, summary = tmp / "w.duckdb", tmp / "pipelines", tmp / "summary.json"
    env = cli_env(sim.workspace.token, pipelines, {"SOURCES__SLACK__PII_SALT": SALT})
    proc = run_cli(load_args(sim, db, "--pii", "hash", "--json", str(summary)), tmp, env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {"db": db, "pipelines": pipelines, "summary": summary, "proc": proc}


@pytest.fixture(scope="module")
def dropped(sim, tmp_path_factory):
    """`--pii drop` in-process, relational path (profiles flattened into columns)."""
    tmp = tmp_path_factory.mktemp("pii_drop")
    target = Target(
        duckdb_path=str(tmp / "w.duckdb"), dataset="slack", pipelines_dir=str(tmp / "pipelines")
    )
    settings = settings_for(sim, pii="drop", fast_path=False)
    run_load(sim.workspace.token, settings, target, pii_salt=SALT)
    return target


def test_hash_leaves_no_personal_value_anywhere(workspace, hashed):
    values = personal_values(workspace)
    assert len(values) > 50
    assert_absent(warehouse_text(hashed["db"]), values, "the warehouse")
    assert_absent(files_text(hashed["pipelines"]), values, "the pipelines' files")
    proc = hashed["proc"]
    assert_absent(proc.stdout + proc.stderr, values, "the output")
    assert_absent(hashed["summary"].read_text(), values, "the --json summary")


def test_hash_keeps_ids_and_joins(workspace, hashed):
    target = Target(duckdb_path=str(hashed["db"]), dataset="slack")
    assert_matches_truth(target, workspace.truth())
    con = duckdb.connect(str(hashed["db"]), read_only=True)
    try:
        users = {
            r[0]: r[1:]
            for r in con.execute(
                "select id, real_name, name, profile__email, profile__image_72, is_bot "
                "from slack.users"
            ).fetchall()
        }
        profiles = con.execute(
            "select \"user\", extra->>'$.user_profile.real_name', "
            "extra->>'$.user_profile.name', "
            "extra->>'$.user_profile.image_72' from slack.messages "
            "where (extra->'$.user_profile') is not null"
        ).fetchall()
        mpims = con.execute(
            "select name, purpose__value from slack.channels where is_mpim"
        ).fetchall()
    finally:
        con.close()
    for u in workspace.users:
        real_name, name, email, image, is_bot = users[u.id]
        if u.is_bot:  # apps keep their names
            assert (real_name, name, is_bot) == (u.real_name, u.name, True)
            continue
        obj = user_obj(u, workspace.team_id)
        # deterministic: HMAC-SHA256 of the value under the salt, whatever run or table
        assert real_name == expected_hash(u.real_name)
        assert name == expected_hash(u.name)
        assert email == expected_hash(obj["profile"]["email"])
        assert image == expected_hash(obj["profile"]["image_72"])
    assert len(profiles) > 50
    for author, real_name, name, image in profiles:
        # the same hash as the users table: joins by value still work
        assert (real_name, name, image) == (users[author][0], users[author][1], users[author][3])
    assert mpims  # a group DM's name holds its members' handles
    for name, purpose in mpims:
        assert name.startswith("h:") and purpose.startswith("h:")


def test_drop_leaves_no_personal_value_anywhere(workspace, dropped):
    values = personal_values(workspace)
    assert_absent(warehouse_text(Path(dropped.duckdb_path)), values, "the warehouse")
    assert_absent(files_text(Path(dropped.pipelines_dir)), values, "the pipelines' files")


def test_drop_removes_the_columns_and_keeps_the_rest(workspace, dropped):
    assert_matches_truth(dropped, workspace.truth())
    con = duckdb.connect(dropped.duckdb_path, read_only=True)
    try:
        users = {
            r[0]: r[1:]
            for r in con.execute("select id, real_name, profile__team from slack.users").fetchall()
        }
        message_cols = {
            r[0]
            for r in con.execute(
                "select column_name from information_schema.columns "
                "where table_schema = 'slack' and table_name = 'messages'"
            ).fetchall()
        }
    finally:
        con.close()
    humans = [u for u in workspace.users if not u.is_bot]
    assert all(users[u.id] == (None, workspace.team_id) for u in humans)
    bots = [u for u in workspace.users if u.is_bot]
    assert all(users[u.id][0] == u.real_name for u in bots)
    # the profiles' other fields are kept (so the relational path did flatten them)
    assert "user_profile__team" in message_cols
    assert not {c for c in message_cols if c.startswith("user_profile__")} & {
        f"user_profile__{k}" for k in ("real_name", "name", "display_name", "image_72")
    }


def test_hash_without_salt_is_one_line_before_slack_is_read(sim, tmp_path):
    sim.reset_stats()
    env = cli_env(sim.workspace.token, tmp_path / "pipelines")
    proc = run_cli(load_args(sim, tmp_path / "w.duckdb", "--pii", "hash"), tmp_path, env)
    assert_one_line_failure(proc, 2, "--pii hash", "SOURCES__SLACK__PII_SALT", "pii_salt")
    assert sim.stats()["totals"]["requests"] == 0
    assert not (tmp_path / "w.duckdb").exists()


def test_unknown_pii_mode_names_the_flag(sim, tmp_path):
    env = cli_env(sim.workspace.token, tmp_path / "pipelines")
    proc = run_cli(load_args(sim, tmp_path / "w.duckdb", "--pii", "foo"), tmp_path, env)
    assert_one_line_failure(proc, 2, "--pii", "foo")


def test_the_policy_never_shows_the_salt_and_keep_is_the_identity(workspace):
    from ingest.source import Pii, pii_for
    from ingest.source.pii import message_pii, user_pii

    pii = Pii("hash", SALT)
    assert SALT not in repr(pii) and SALT not in str(pii)
    with pytest.raises(TypeError):
        pickle.dumps(pii)
    keep = pii_for("keep")
    user = user_obj(workspace.users[0], workspace.team_id)
    msg = {"ts": "1.000001", "user_profile": dict(user["profile"])}
    assert user_pii(user, keep) is user and message_pii(msg, keep) is msg
