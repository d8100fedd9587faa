"""Bad input, continued: the user mistakes tests/integration/test_cli.py does not cover,
each run against a destination that already holds a load. Every one must give one clear
line, exit code 2, no traceback, and lose nothing: the DuckDB file and dlt's pipeline
folder are byte for byte what they were, and the next good run simply continues.
"""

from __future__ import annotations

import http.server
import threading
from pathlib import Path

import pytest

from ingest.load.run import Target
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
UNKNOWN = "xoxb-8080-nobody-knows-this-one"
SECRETS = (TOKEN, EXPIRED, UNKNOWN)
ENV_ORIGIN = "SOURCES__SLACK__ACCESS_TOKEN environment variable"


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


class _WebPage(http.server.BaseHTTPRequestHandler):
    """Some other web server: every path answers 200 with an HTML page."""

    def _page(self) -> None:
        body = b"<!doctype html><html><body>Welcome to the intranet</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _page

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def html_url():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _WebPage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _snapshot(home: Path) -> tuple:
    return file_digest(home / "w.duckdb"), tree_digest(home / "pipes")


# (case, extra args, environment, .dlt files, needle or needles). "{home}", "{url}",
# "{host}" and "{html}" are filled in; an environment value None removes the variable.
CASES = [
    pytest.param(
        [],
        {"SOURCES__SLACK__ACCESS_TOKEN": EXPIRED},
        {},
        ("rejected the token (token_expired)", ENV_ORIGIN),
        id="expired token",
    ),
    pytest.param(
        [],
        {"SOURCES__SLACK__ACCESS_TOKEN": f" {TOKEN[:10]} {TOKEN[10:]}"},
        {},
        ("malformed", ENV_ORIGIN),
        id="token pasted with a space",
    ),
    # issue 16: a bad token is blamed on where it came from, not always on secrets.toml
    pytest.param(
        ["--token", f"{TOKEN[:10]} {TOKEN[10:]}"],
        {},
        {},
        ("malformed", "the --token flag"),
        id="malformed --token",
    ),
    pytest.param(
        ["--token", UNKNOWN],
        {},
        {},
        ("rejected the token (invalid_auth)", "the --token flag"),
        id="rejected --token",
    ),
    pytest.param(
        [],
        {"SOURCES__SLACK__ACCESS_TOKEN": None},
        {"secrets.toml": f"[sources.slack]\naccess_token = '{EXPIRED}'\n"},
        ("rejected the token (token_expired)", "[sources.slack] of .dlt/secrets.toml"),
        id="rejected token in secrets.toml",
    ),
    # issue 16: runs that would do nothing, or not what was asked, are mistakes (exit 2)
    pytest.param(
        ["--start-date", "2999-01-01"],
        {},
        {},
        ("start date 2999-01-01 is in the future", "--start-date"),
        id="start date in the future",
    ),
    pytest.param(
        ["--start-date", "1900-01-01"],
        {},
        {},
        ("start date 1900-01-01 is before Slack existed", "--start-date"),
        id="start date before Slack",
    ),
    pytest.param(
        ["--channel", "announcements"],
        {},
        {},
        ("none of the channels asked for can be read", "#announcements (C", "not a member"),
        id="only a channel the bot is not in",
    ),
    pytest.param(
        ["--channel", "general", "--exclude-channel", "general"],
        {},
        {},
        ("both selected and excluded", "#general (C"),
        id="channel in and out",
    ),
    pytest.param(
        ["--base-url", "{html}/api/"],
        {},
        {},
        ("is not the Slack Web API", "HTML page", "--base-url"),
        id="base url answering an HTML page",
    ),
    # issue 16: nan and inf are numbers to TOML and float(), not to a setting
    pytest.param(
        ["--time-scale", "nan"],
        {},
        {},
        ("time_scale must be a finite number, got nan", "--time-scale"),
        id="time scale nan",
    ),
    pytest.param(
        ["--lookback-days", "inf"],
        {},
        {},
        ("lookback_days must be a finite number, got inf", "--lookback-days"),
        id="lookback days inf",
    ),
    pytest.param(
        [],
        {},
        {"config.toml": "[sources.slack]\ntime_scale = nan\n"},
        ("time_scale must be a finite number, got nan", "config.toml"),
        id="time scale nan in config.toml",
    ),
    pytest.param(["--end-date", "2024-13-45"], {}, {}, "not a date", id="impossible end date"),
    pytest.param(["--lookback-days", "-1"], {}, {}, "lookback days", id="negative lookback"),
    pytest.param(
        ["--exclude-channel", "no-such-channel"],
        {},
        {},
        "unknown channel",
        id="unknown excluded channel",
    ),
    pytest.param(["--dataset", "my-data!"], {}, {}, "dataset name", id="bad dataset name"),
    pytest.param(
        ["--duckdb-path", "{home}/a-folder.duckdb"],
        {},
        {},
        "is a directory",
        id="duckdb path is a folder",
    ),
    pytest.param(
        ["--duckdb-path", "{home}/slack.duckdb"],
        {},
        {},
        "same name as the dataset",
        id="duckdb file named like the dataset",
    ),
    pytest.param(
        ["--base-url", "{host}:1/api/"],
        {},
        {},
        "must start with http",
        id="base url without scheme",
    ),
    pytest.param(
        [], {"SOURCES__SLACK__SLICE_ROWS": "many"}, {}, "slice_rows", id="bad number in environment"
    ),
    pytest.param(
        [],
        {},
        {"config.toml": "[sources.slack]\nprofle = 'internal'\n"},
        "'profle' (did you mean 'profile'?)",
        id="misspelt key in config.toml",
    ),
    # issue 16: the file, the line and the cause (not a key the file never mentioned)
    pytest.param(
        [],
        {},
        {"secrets.toml": "[sources.slack\naccess_token = = 'x'\n"},
        (".dlt/secrets.toml, line 1, column 15", "Expected ']'", "TOML syntax error"),
        id="corrupt secrets.toml",
    ),
    pytest.param(
        [],
        {},
        {"config.toml": "[sources.slack]\nprofile = 'internal'\nlimits = \n"},
        (".dlt/config.toml, line 3, column 10", "Invalid value"),
        id="corrupt config.toml",
    ),
    pytest.param(
        ["--duckdb-path", "{home}/a-file/w.duckdb"], {}, {}, "a-file", id="duckdb folder is a file"
    ),
    pytest.param(
        ["--duckdb-path", "{home}/not-duckdb.duckdb"],
        {},
        {},
        "not a DuckDB",
        id="duckdb path is not a database",
    ),
    pytest.param(
        ["--base-url", "{url}/not-the-api/"],
        {},
        {},
        "base URL",
        id="base url of another web server",
    ),
    pytest.param(
        ["--json", "{home}/no-such-folder/summary.json"],
        {},
        {},
        "no-such-folder",
        id="summary json in a missing folder",
    ),
    pytest.param(
        ["--destination", "bigquery"], {}, {}, "credentials", id="bigquery without credentials"
    ),
]


@pytest.mark.parametrize("args,env,dot_dlt,needle", CASES)
def test_mistake_is_one_line_exit_2_and_loses_nothing(
    loaded, html_url, tmp_path, args, env, dot_dlt, needle
):
    sim, home = loaded
    host = sim.url.rsplit(":", 1)[0].replace("http://", "")
    args = [a.format(home=home, url=sim.url, host=host, html=html_url) for a in args]
    if dot_dlt:
        (tmp_path / ".dlt").mkdir()
        for name, text in dot_dlt.items():
            (tmp_path / ".dlt" / name).write_text(text)
    before = _snapshot(home)
    sim.reset_stats()
    base = load_args(sim, home / "w.duckdb", lookback_days=None)
    if "--base-url" in args:  # replace the simulator's URL
        i = base.index("--base-url")
        del base[i : i + 2]
    environment = cli_env(TOKEN, home / "pipes", {k: v for k, v in env.items() if v is not None})
    for key in [k for k, v in env.items() if v is None]:
        del environment[key]
    needles = needle if isinstance(needle, tuple) else (needle,)
    proc = run_cli([*base, *args], tmp_path, environment, timeout=120)
    line = assert_one_line_failure(proc, 2, *needles, secrets=SECRETS)
    assert "from paths [" not in line and "sources.slack.profile" not in line, line
    assert _snapshot(home) == before, "a failed run changed the destination or dlt's state"
    # a mistake is found before any history is read
    methods = sim.stats()["methods"]
    assert not {"conversations.history", "conversations.replies"} & set(methods), methods


def test_next_good_run_continues(loaded):
    sim, home = loaded
    sim.reset_stats()
    proc = run_cli(
        load_args(sim, home / "w.duckdb", lookback_days=None), home, cli_env(TOKEN, home / "pipes")
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert_exact(Target(duckdb_path=str(home / "w.duckdb")), sim.workspace.truth())
    # incremental: no thread is fetched again
    assert "conversations.replies" not in sim.stats()["methods"]
    assert requests_total(sim) < 40
