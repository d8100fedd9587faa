"""The checks behind three of test_bad_input.py's cases, one level down: unknown keys in
`[sources.slack]`, a base URL that is not the Slack Web API, a destination without
credentials. Each check must catch the mistake and let every legitimate setup through."""

from __future__ import annotations

import dataclasses
import tomllib

import pytest

from ingest.config.resolve import SOURCE_KEYS, check_source_keys, unknown_source_keys
from ingest.load.explain import RUNTIME_FAILURE, USER_MISTAKE, explain
from ingest.load.preflight import looks_like_a_web_page, not_the_api, preflight
from ingest.load.run import Target, check_target
from ingest.simulator import SimulatorThread, Workspace
from ingest.slack import SlackConnectionError, SlackError, SlackRetryExhaustedError
from ingest.source.settings import ConfigError, LoadSettings, check_token
from tests.reliability.support import REPO, cli_env, load_args, run_cli

TOKEN = "xoxb-8181-config-checks"


# -- unknown keys in [sources.slack] ----------------------------------------------------


def _committed_source_tables() -> list[dict]:
    """[sources.slack] of the committed config.toml with its commented-out examples
    switched on, and of secrets.toml.example."""
    config = (REPO / ".dlt" / "config.toml").read_text()
    config = "\n".join(
        line.removeprefix("# ")
        if line.startswith(
            (
                "# start_date",
                "# end_date",
                "# channels",
                "# exclude_channels",
                "# [sources.slack.limits",
                "# rate_per_min",
                "# burst",
                "# page_size",
            )
        )
        else line
        for line in config.splitlines()
    )
    secrets = (REPO / ".dlt" / "secrets.toml.example").read_text()
    return [tomllib.loads(text)["sources"]["slack"] for text in (config, secrets)]


def test_committed_config_and_secrets_example_have_no_unknown_key():
    config, secrets = _committed_source_tables()
    assert {"channels", "limits", "slice_rows"} <= set(config)  # the examples were switched on
    assert unknown_source_keys(config) == [] and unknown_source_keys(secrets) == []
    check_source_keys(config, "config.toml")
    check_source_keys(secrets, "secrets.toml")


def test_every_setting_the_token_and_dlt_tables_are_known():
    section = {f.name: None for f in dataclasses.fields(LoadSettings)}
    section |= {
        "access_token": "x",
        "slack": {"profile": "internal"},
        "messages": {"a": 1},
        "limits": {"users.list": {"page_size": 100}},
    }
    assert SOURCE_KEYS >= {f.name for f in dataclasses.fields(LoadSettings)} | {"access_token"}
    assert unknown_source_keys(section) == []


@pytest.mark.parametrize(
    "section,message",
    [
        (
            {"profle": "internal"},
            "unknown key 'profle' (did you mean 'profile'?) in [sources.slack] of .dlt/config.toml",
        ),
        ({"token": "xoxb-1-leaked"}, "unknown key 'token' (did you mean 'access_token'?)"),
        ({"limts": {"users.list": {"burst": 1}}}, "'limts' (did you mean 'limits'?)"),
        ({"messages": 5}, "unknown key 'messages'"),  # a resource's name, but not a table
        (
            {"zzz": 1, "slice_row": 9},
            "unknown keys 'slice_row' (did you mean 'slice_rows'?), 'zzz' in [sources.slack]",
        ),
    ],
)
def test_unknown_key_is_named_with_its_closest_match(section, message):
    with pytest.raises(ConfigError) as info:
        check_source_keys(section, ".dlt/config.toml")
    text = str(info.value)
    assert message in text and "\n" not in text
    assert "leaked" not in text  # names only, never values
    # the known keys are listed when some key has no close match
    assert ("known keys: access_token, app_token, auto_join," in text) == (
        "'zzz'" in text or "'messages'" in text
    )
    assert explain(info.value) == (USER_MISTAKE, text)


def test_a_complete_legitimate_dlt_folder_runs(tmp_path):
    """The committed config.toml and the token in secrets.toml, plus the tables dlt reads
    under [sources.slack]: the run succeeds (nothing legitimate is taken for a typo)."""
    ws = Workspace.generate(size="tiny", seed=82, token=TOKEN)
    (tmp_path / ".dlt").mkdir()
    config = (REPO / ".dlt" / "config.toml").read_text()
    (tmp_path / ".dlt" / "config.toml").write_text(
        config + '\n[sources.slack.limits."users.list"]\npage_size = 100\n'
        "\n[sources.slack.messages]\nunused = 1\n"
    )
    (tmp_path / ".dlt" / "secrets.toml").write_text(f"[sources.slack]\naccess_token = '{TOKEN}'\n")
    with SimulatorThread(ws, profile="unlimited") as sim:
        proc = run_cli(
            load_args(sim, tmp_path / "w.duckdb"), tmp_path, cli_env(None, tmp_path / "pipes")
        )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert TOKEN not in proc.stdout + proc.stderr


# -- a base URL that is not the Slack Web API --------------------------------------------


def test_http_404_from_auth_test_is_a_user_mistake():
    mistake = not_the_api(
        SlackError("auth.test", "http_404", "auth.test: HTTP 404"),
        "https://user:pw@example.com/api/",
    )
    assert isinstance(mistake, ConfigError)
    code, line = explain(mistake)
    assert code == USER_MISTAKE
    assert line.startswith(
        "base URL https://example.com/api/ does not look like the Slack "
        "Web API (auth.test answered HTTP 404)"
    )
    assert "pw" not in line


@pytest.mark.parametrize(
    "error",
    [
        SlackRetryExhaustedError("auth.test", "http_503"),  # Slack down: rerun later
        SlackError("auth.test", "http_400", "auth.test: HTTP 400"),
        SlackError("conversations.list", "http_404", "conversations.list: HTTP 404"),
        SlackConnectionError("auth.test", base_url="http://127.0.0.1:1/api/"),
    ],
)
def test_other_failures_are_not_taken_for_a_wrong_base_url(error):
    assert not_the_api(error, "https://slack.com/api/") is None


def test_preflight_against_another_web_server_and_against_a_failing_slack():
    ws = Workspace.generate(size="tiny", seed=83, token=TOKEN)
    with SimulatorThread(ws, profile="unlimited") as sim:
        settings = LoadSettings(base_url=f"{sim.url}/not-the-api/", profile="unlimited")
        with pytest.raises(ConfigError, match="does not look like the Slack Web API"):
            preflight(TOKEN, settings)
        settings = settings.replace(base_url=sim.base_url)
        assert preflight(TOKEN, settings)["team_id"]
        sim.set_faults("http503=1")  # a 5xx stays a runtime failure: rerun to continue
        with pytest.raises(SlackRetryExhaustedError) as info:
            # time-scaled: the retry budget is Slack time, a second here (unlimited profile)
            preflight(TOKEN, settings.replace(time_scale=600.0))
    code, line = explain(info.value)
    assert code == RUNTIME_FAILURE and line.endswith("rerun to continue"), line


@pytest.mark.parametrize(
    "status,content_type,body,page",
    [
        (200, "text/html", b"<!doctype html><p>intranet</p>", True),
        (200, "text/plain", b"hello", True),
        (401, "text/html; charset=utf-8", b"<html>login</html>", True),
        (200, "application/json", b'{"ok": false, "error": "not_authed"}', False),
        (200, "application/json", b'{"ok": false, "err', False),  # truncated: a flaky Slack
        (503, "text/html", b"<html>503</html>", False),  # retried: a failing Slack
        (429, "text/html", b"<html>slow down</html>", False),
    ],
)
def test_only_a_non_json_answer_is_taken_for_another_web_server(status, content_type, body, page):
    assert looks_like_a_web_page(status, content_type, body) is page


def test_unreachable_at_the_start_is_a_mistake_but_lost_later_is_a_runtime_failure():
    settings = LoadSettings(
        base_url="http://127.0.0.1:9/api/", profile="unlimited", time_scale=600.0
    )
    with pytest.raises(ConfigError) as info:
        preflight(TOKEN, settings)
    code, line = explain(info.value)
    assert code == USER_MISTAKE and "cannot reach http://127.0.0.1:9/api/" in line
    assert "--base-url" in line
    later = SlackConnectionError("conversations.history", base_url="http://127.0.0.1:9/api/")
    assert explain(later)[0] == RUNTIME_FAILURE


# -- where the token came from ------------------------------------------------------------


def test_token_origin_is_the_flag_the_environment_or_the_file(tmp_path):
    import json
    import subprocess
    import sys

    # dlt reads .dlt/ of the working folder once per process: ask a fresh one there
    (tmp_path / ".dlt").mkdir()
    (tmp_path / ".dlt" / "secrets.toml").write_text(
        "[sources.slack]\naccess_token = 'xoxb-from-file'\n"
    )
    code = (
        "import json, sys; from ingest.config.resolve import resolve_token_with_origin as r; "
        "print(json.dumps([r(sys.argv[1] or None)]))"
    )

    def origin(flag: str, **env: str) -> list[str]:
        out = subprocess.run(
            [sys.executable, "-c", code, flag],
            cwd=tmp_path,
            check=True,
            capture_output=True,
            text=True,
            env=cli_env(None, extra=env),
        )
        return json.loads(out.stdout)[0]

    assert origin("xoxb-flag") == ["xoxb-flag", "the --token flag"]
    assert origin("") == ["xoxb-from-file", "access_token in [sources.slack] of .dlt/secrets.toml"]
    assert origin("", SOURCES__SLACK__ACCESS_TOKEN="xoxb-from-env") == [
        "xoxb-from-env",
        "the SOURCES__SLACK__ACCESS_TOKEN environment variable",
    ]
    with pytest.raises(ConfigError) as info:
        check_token("xoxb has spaces", "the --token flag")
    assert "(from the --token flag) is malformed" in str(info.value)
    assert "spaces" not in str(info.value).split("malformed")[0]


def test_a_toml_syntax_error_names_the_file_line_and_cause(tmp_path):
    from ingest.config.files import syntax_error_of

    bad = tmp_path / "secrets.toml"
    bad.write_text("[sources.slack]\naccess_token = 'xoxb-1-secret\n")
    line = syntax_error_of(str(bad))
    assert line is not None and line.startswith(f"{bad}, line 2, column ")
    assert "xoxb-1-secret" not in line
    bad.write_text("[sources.slack]\naccess_token = 'x'\n")
    assert syntax_error_of(str(bad)) is None


# -- destination credentials --------------------------------------------------------------


@pytest.fixture
def no_cloud_credentials(monkeypatch, tmp_path):
    """No credentials from anywhere: environment, gcloud's default credentials, GCE."""
    import os

    for key in list(os.environ):
        if key.startswith(("DESTINATION__", "CREDENTIALS__")) or key in (
            "GOOGLE_APPLICATION_CREDENTIALS",
            "GOOGLE_CLOUD_PROJECT",
        ):
            monkeypatch.delenv(key)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    monkeypatch.setenv("NO_GCE_CHECK", "True")


def test_bigquery_without_credentials_is_caught_with_the_target(no_cloud_credentials):
    with pytest.raises(ConfigError) as info:
        check_target(Target(destination="bigquery"))
    code, line = explain(info.value)
    assert code == USER_MISTAKE
    for needle in (
        "BigQuery credentials are missing",
        "[destination.bigquery.credentials]",
        ".dlt/secrets.toml",
        "DESTINATION__BIGQUERY__CREDENTIALS__*",
        "GOOGLE_APPLICATION_CREDENTIALS",
    ):
        assert needle in line, (needle, line)


def test_bigquery_with_credentials_passes_and_shows_none_of_them(no_cloud_credentials, monkeypatch):
    key = "-----BEGIN PRIVATE KEY-----\nSECRETKEYMATERIAL\n-----END PRIVATE KEY-----\n"
    monkeypatch.setenv("DESTINATION__BIGQUERY__CREDENTIALS__PROJECT_ID", "my-project")
    monkeypatch.setenv("DESTINATION__BIGQUERY__CREDENTIALS__CLIENT_EMAIL", "l@my-project.iam")
    monkeypatch.setenv("DESTINATION__BIGQUERY__CREDENTIALS__PRIVATE_KEY", key)
    target = Target(destination="bigquery")
    assert check_target(target) is target
    # incomplete: the error names the fields to set, never a value
    monkeypatch.delenv("DESTINATION__BIGQUERY__CREDENTIALS__PRIVATE_KEY")
    with pytest.raises(ConfigError) as info:
        check_target(target)
    assert "SECRETKEYMATERIAL" not in str(info.value) and "my-project" not in str(info.value)


def test_other_destinations_name_their_own_credentials(no_cloud_credentials):
    with pytest.raises(
        ConfigError,
        match=r"credentials for destination postgres are missing.*"
        r"DESTINATION__POSTGRES__CREDENTIALS__\*",
    ):
        check_target(Target(destination="postgres"))
    # destinations without credentials and DuckDB are not affected
    assert check_target(Target(destination="dummy")).destination == "dummy"
