"""Bad input, continued: the user mistakes tests/integration/test_cli.py does not cover,
each run against a destination that already holds a load. Every one must give one clear
line, exit code 2, no traceback, and lose nothing: the DuckDB file and dlt's pipeline
folder are byte for byte what they were, and the next good run simply continues.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.pipeline import Target
from ingest.simulator import SimulatorThread, Workspace
from tests.reliability.support import (
    assert_exact,
    assert_one_line_failure,
    cli_env,
    file_digest,
    load_args,
    requests_total,
    run_cli,
    tree_digest,
)

TOKEN = "xoxb-8080-bad-input-token"
EXPIRED = "xoxb-8080-expired"
SECRETS = (TOKEN, EXPIRED)


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    """A simulator and a destination loaded once from it (the state a mistake must keep)."""
    ws = Workspace.generate(size="tiny", seed=81, token=TOKEN)
    home = tmp_path_factory.mktemp("home")
    (home / "a-file").write_text("not a folder\n")
    (home / "not-duckdb.duckdb").write_text("this is a text file, not a DuckDB database\n" * 20)
    (home / "a-folder.duckdb").mkdir()
    with SimulatorThread(ws, profile="unlimited") as sim:
        sim.add_token(EXPIRED, expired=True)
        proc = run_cli(load_args(sim, home / "w.duckdb"), home, cli_env(TOKEN, home / "pipes"))
        assert proc.returncode == 0, proc.stderr[-3000:]
        yield sim, home


def _snapshot(home: Path) -> tuple:
    return file_digest(home / "w.duckdb"), tree_digest(home / "pipes")


# (case, extra args, environment, .dlt files, needle). "{home}" and "{sim}" are filled in.
CASES = [
    pytest.param([], {"SOURCES__SLACK__ACCESS_TOKEN": EXPIRED}, {},
                 "rejected the token (token_expired)", id="expired token"),
    pytest.param([], {"SOURCES__SLACK__ACCESS_TOKEN": f" {TOKEN[:10]} {TOKEN[10:]}"}, {},
                 "malformed", id="token pasted with a space"),
    pytest.param(["--end-date", "2024-13-45"], {}, {}, "not a date", id="impossible end date"),
    pytest.param(["--lookback-days", "-1"], {}, {}, "lookback days", id="negative lookback"),
    pytest.param(["--exclude-channel", "no-such-channel"], {}, {}, "unknown channel",
                 id="unknown excluded channel"),
    pytest.param(["--dataset", "my-data!"], {}, {}, "dataset name", id="bad dataset name"),
    pytest.param(["--duckdb-path", "{home}/a-folder.duckdb"], {}, {}, "is a directory",
                 id="duckdb path is a folder"),
    pytest.param(["--duckdb-path", "{home}/slack.duckdb"], {}, {}, "same name as the dataset",
                 id="duckdb file named like the dataset"),
    pytest.param(["--base-url", "{host}:1/api/"], {}, {}, "must start with http",
                 id="base url without scheme"),
    pytest.param([], {"SOURCES__SLACK__SLICE_ROWS": "many"}, {}, "slice_rows",
                 id="bad number in environment"),
    pytest.param([], {}, {"config.toml": "[sources.slack]\nprofle = 'internal'\n"},
                 "'profle' (did you mean 'profile'?)", id="misspelt key in config.toml"),
    pytest.param([], {}, {"secrets.toml": "[sources.slack\naccess_token = = 'x'\n"}, "secrets",
                 id="corrupt secrets.toml"),
    pytest.param(["--duckdb-path", "{home}/a-file/w.duckdb"], {}, {}, "a-file",
                 id="duckdb folder is a file"),
    pytest.param(["--duckdb-path", "{home}/not-duckdb.duckdb"], {}, {}, "not a DuckDB",
                 id="duckdb path is not a database"),
    pytest.param(["--base-url", "{url}/not-the-api/"], {}, {}, "base URL",
                 id="base url of another web server"),
    pytest.param(["--json", "{home}/no-such-folder/summary.json"], {}, {}, "no-such-folder",
                 id="summary json in a missing folder"),
    pytest.param(["--destination", "bigquery"], {}, {}, "credentials",
                 id="bigquery without credentials"),
]


@pytest.mark.parametrize("args,env,dot_dlt,needle", CASES)
def test_mistake_is_one_line_exit_2_and_loses_nothing(loaded, tmp_path, args, env, dot_dlt,
                                                      needle):
    sim, home = loaded
    host = sim.url.rsplit(":", 1)[0].replace("http://", "")
    args = [a.format(home=home, url=sim.url, host=host) for a in args]
    if dot_dlt:
        (tmp_path / ".dlt").mkdir()
        for name, text in dot_dlt.items():
            (tmp_path / ".dlt" / name).write_text(text)
    before = _snapshot(home)
    sim.reset_stats()
    base = load_args(sim, home / "w.duckdb", lookback_days=None)
    if "--base-url" in args:  # replace the simulator's URL
        i = base.index("--base-url")
        del base[i:i + 2]
    proc = run_cli([*base, *args], tmp_path, cli_env(TOKEN, home / "pipes", env), timeout=120)
    assert_one_line_failure(proc, 2, needle, secrets=SECRETS)
    assert _snapshot(home) == before, "a failed run changed the destination or dlt's state"
    # a mistake is found before any history is read
    methods = sim.stats()["methods"]
    assert not {"conversations.history", "conversations.replies"} & set(methods), methods


def test_next_good_run_continues(loaded):
    sim, home = loaded
    sim.reset_stats()
    proc = run_cli(load_args(sim, home / "w.duckdb", lookback_days=None), home,
                   cli_env(TOKEN, home / "pipes"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert_exact(Target(duckdb_path=str(home / "w.duckdb")), sim.workspace.truth())
    # incremental: no thread is fetched again
    assert "conversations.replies" not in sim.stats()["methods"]
    assert requests_total(sim) < 40
