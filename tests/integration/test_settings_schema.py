"""One settings schema: the CLI's options, the flow's parameters and the config keys are all
derived from the fields of `LoadSettings`, `Target` and `FlowOptions` (issue "One clear
structure"). These tests read each consumer and compare it with the schema, and add a field
to a schema to check that it shows up in all three without anything else being edited."""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass
from typing import Any

import pytest
import typer
from typer.main import get_command
from typer.testing import CliRunner

from flows.config import FLOW_SCHEMAS, FlowOptions
from ingest.cli.options import option_fields, pick, with_setting_options
from ingest.config.resolve import SOURCE_KEYS, SOURCE_SECTION, resolve_section
from ingest.load.target import Target
from ingest.source import (
    FLAGS,
    ConfigError,
    LoadSettings,
    normalize_channels,
    schema_fields,
    setting,
)


def _command(group: Any, path: str) -> Any:
    """A (sub)command of the click group typer built (typer may bring its own click)."""
    cmd = group
    for part in path.split():
        cmd = cmd.commands[part]
    return cmd


def _cli() -> Any:
    from slack_ingest.cli import app

    return get_command(app)


def _help(path: str) -> str:
    from slack_ingest.cli import app

    result = CliRunner().invoke(app, [*path.split(), "--help"], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    return re.sub(r"\s+", " ", result.output)


@pytest.mark.parametrize("command", ["run", "flow run", "flow serve"])
def test_every_flagged_field_is_an_option_of_its_commands(command):
    options = {p.name: p for p in _command(_cli(), command).params}
    text = _help(command)
    expected = [
        f
        for cls in FLOW_SCHEMAS
        for f in schema_fields(cls)
        if f.setting.flags and command in f.setting.commands
    ]
    assert expected, "the schema declares no flags: derivation is broken"
    for f in expected:
        assert f.name in options, f"{f.name} ({f.setting.flags}) is not an option of {command}"
        opt = options[f.name]
        decls = [d for flag in f.setting.flags for d in flag.split("/")]
        assert set(decls) == set(opt.opts) | set(opt.secondary_opts), f.name
        assert opt.help == f.setting.help
        for decl in decls:
            assert decl in text, f"{decl} missing from `slack-ingest {command} --help`"
    # and nothing of the schema leaks into a command it is not declared for
    not_here = {
        f.name
        for cls in FLOW_SCHEMAS
        for f in schema_fields(cls)
        if f.setting.flags and command not in f.setting.commands
    }
    assert not_here.isdisjoint(options)


def test_flow_parameters_are_the_flow_fields_of_the_schema():
    from flows.pipeline import slack_pipeline

    params = inspect.signature(slack_pipeline.fn).parameters
    schema = slack_pipeline.parameters.properties
    expected = sorted(
        (f for cls in FLOW_SCHEMAS for f in schema_fields(cls) if f.setting.flow is not None),
        key=lambda f: f.setting.flow,
    )
    assert [f.name for f in expected] == list(params) == list(schema)
    for f in expected:
        default = None if f.setting.config else f.default
        assert params[f.name].default == default, f.name
        assert schema[f.name].get("default") == default, f.name
    # every setting a user may pass to `flow run` reaches the flow by the same name
    flow_run = {p.name for p in _command(_cli(), "flow run").params}
    assert {f.name for f in option_fields("flow run", FLOW_SCHEMAS)} <= set(params)
    assert {f.name for f in option_fields("flow run", FLOW_SCHEMAS)} <= flow_run


def test_flow_parameters_keep_their_names_and_defaults():
    """The deployments' parameters (prefect.yaml, served flows) must not move."""
    from flows.pipeline import slack_pipeline

    params = inspect.signature(slack_pipeline.fn).parameters
    assert list(params) == [
        "channels",
        "start_date",
        "destination",
        "shards",
        "max_concurrency",
        "profile",
        "end_date",
        "exclude_channels",
        "duckdb_path",
        "dataset",
        "base_url",
        "time_scale",
        "lookback_days",
        "include_private",
        "exclude_archived",
        "auto_join",
        "fast_path",
        "pipelines_dir",
        "shard_deployment",
        "retries",
        "retry_backoff_s",
        "max_retry_wait_s",
        "journal_path",
        "rescan",
        "models",
        "include_dms",
        "include_group_dms",
        "include_files",
        "include_usergroups",
        "pii",
        "team_ids",
        "org_teams",
        "workspace_deployment",
    ]
    assert params["shards"].default == 4 and params["max_concurrency"].default == 4
    assert params["retries"].default == 3 and params["retry_backoff_s"].default == 10.0
    assert params["channels"].annotation == list[str] | None


def test_config_keys_are_the_settings_fields():
    assert SOURCE_KEYS == {f.name for f in schema_fields(LoadSettings)} | {
        "access_token",
        "app_token",
        "pii_salt",
    }
    assert FLAGS == {f.name: f.flag for f in schema_fields(LoadSettings) if f.flag}
    assert FLAGS["channels"] == "--channel" and FLAGS["max_retry_wait_s"] == "--max-retry-wait"


def test_config_resolution_reads_every_field_at_its_key(monkeypatch):
    monkeypatch.setenv("SOURCES__SLACK__SLICE_ROWS", "123")
    monkeypatch.setenv("SOURCES__SLACK__REPLIES", "no")
    monkeypatch.setenv("SOURCES__SLACK__CHANNELS", "general, random")
    values = resolve_section(LoadSettings, SOURCE_SECTION, {"time_scale": "2.5"})
    assert set(values) == {f.name for f in schema_fields(LoadSettings)}
    assert values["slice_rows"] == 123 and values["replies"] is False
    assert values["time_scale"] == 2.5
    assert LoadSettings.from_mapping(values).channels == ("general", "random")
    monkeypatch.setenv("SOURCES__SLACK__REPLIES", "maybe")
    with pytest.raises(ConfigError, match=r"^setting replies='maybe' is not a valid bool$"):
        resolve_section(LoadSettings, SOURCE_SECTION, {})


# A schema with one more field: it must appear as a flag, a flow parameter and a config key
# with nothing but its declaration.
@dataclass(frozen=True)
class _Extended(LoadSettings):
    extra_knob: float = setting(
        1.5, flag="--extra-knob", cli=16.0, flow=30, help="A setting added to the schema"
    )


def test_a_field_added_to_the_schema_appears_everywhere(monkeypatch):
    from flows.pipeline import flow_signature

    seen: dict[str, Any] = {}

    @with_setting_options("run", _Extended, Target)
    def cmd(overrides: dict[str, Any]) -> None:
        seen.update(overrides)

    app = typer.Typer()
    app.command()(cmd)
    app.command("other")(lambda: None)  # (a group, so the command is addressed by name)
    runner = CliRunner()
    text = re.sub(r"\s+", " ", runner.invoke(app, ["cmd", "--help"], env={"COLUMNS": "400"}).output)
    assert "--extra-knob" in text and "A setting added to the schema" in text
    result = runner.invoke(app, ["cmd", "--extra-knob", "2.5", "-c", "a", "-c", "b"])
    assert result.exit_code == 0, result.output
    assert seen["extra_knob"] == 2.5 and seen["channels"] == ["a", "b"]
    assert seen["base_url"] is None  # not given: left to config
    assert pick(seen, Target) == {
        k: None
        for k in (
            "destination",
            "duckdb_path",
            "dataset",
            "journal_path",
            "duckdb_memory_limit",
            "models",
        )
    }

    sig = flow_signature((_Extended, Target, FlowOptions))
    assert sig.parameters["extra_knob"].default is None
    assert sig.parameters["extra_knob"].annotation == float | None

    monkeypatch.setenv("SOURCES__SLACK__EXTRA_KNOB", "3.25")
    assert resolve_section(_Extended, SOURCE_SECTION, {})["extra_knob"] == 3.25
    monkeypatch.setenv("SOURCES__SLACK__EXTRA_KNOB", "lots")
    with pytest.raises(ConfigError, match="setting extra_knob='lots' is not a valid float"):
        resolve_section(_Extended, SOURCE_SECTION, {})


def test_one_channel_list_normaliser():
    assert normalize_channels(["a", "b"]) == ("a", "b")
    assert normalize_channels("a, b c") == ("a", "b", "c")
    assert normalize_channels([]) is None and normalize_channels(None) is None
    assert LoadSettings.from_mapping({"channels": "x,y"}).channels == ("x", "y")
    assert LoadSettings.from_mapping({"channels": []}).channels == ()
