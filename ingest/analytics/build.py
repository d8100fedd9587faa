"""Build the analytics models (the dbt project in `ingest/analytics/dbt`) after a load.

`build_models` runs the project through dlt's dbt runner (`dlt.dbt.package`): the dbt
profile comes from the pipeline's destination (DuckDB or BigQuery), its credentials from the
pipeline's, the sources are the pipeline's dataset and the models become tables of the
analytics dataset, `<dataset>_analytics` (`analytics_dataset_name`). dbt runs in a child
process of the current interpreter, after the load: it opens a DuckDB file only while it
runs, and nothing here holds a connection when `build_models` returns.

dbt writes its `target/` (compiled SQL, run results) and `logs/` (dbt.log) under the
pipeline's working directory (`<pipelines_dir>/<pipeline>/analytics_dbt/`), never beside
the project or in the current directory, and never sends usage statistics.

`compile_models_offline` compiles the models for an adapter without a warehouse (and with
any network access turned into an error): what the BigQuery test checks.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dlt
from dlt.common.runners import Venv

#: The dbt project shipped with the package (package data).
PROJECT_DIR = Path(__file__).resolve().parent / "dbt"
#: profiles.yml for dlt's runner: dlt's own loads DuckDB extensions from the internet.
PROFILES_DIR = PROJECT_DIR / "profiles"
#: The dbt project's name (dbt_project.yml), the folder of its compiled SQL.
PROJECT_NAME = "slack_analytics"
#: The models built as tables, in dependency order.
MODELS = (
    "threads",
    "questions",
    "unanswered_questions",
    "channel_activity_daily",
    "user_activity_weekly",
)
#: Every model of the project: MODELS and the ephemeral ones they are built from.
_NODES = frozenset(p.stem for p in (PROJECT_DIR / "models").rglob("*.sql"))
ANALYTICS_SUFFIX = "_analytics"
INSTALL_HINT = "pip install -e '.[models]'"
#: dlt's dbt profile name (from the destination) -> the dbt adapter module it needs.
PROFILE_ADAPTERS = {
    "duckdb": "dbt.adapters.duckdb",
    "bigquery": "dbt.adapters.bigquery",
    "bigquery_default": "dbt.adapters.bigquery",
}
#: Where dbt writes, under the pipeline's working directory.
WORK_FOLDER = "analytics_dbt"
#: Environment of every dbt process: no usage statistics, no colours in captured output.
DBT_ENV = {
    "DO_NOT_TRACK": "1",
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    "DBT_USE_COLORS": "false",
    "DBT_USE_COLORS_FILE": "false",
}


class ModelsUnavailable(Exception):
    """dbt (or its adapter for the destination) is not installed, or the destination has
    no dbt profile here."""


class ModelsError(Exception):
    """dbt failed: a one-line message naming the failing model (`model`, when known)."""

    def __init__(self, message: str, model: str | None = None) -> None:
        super().__init__(message)
        self.model = model


@dataclass(frozen=True)
class ModelsBuild:
    """What `build_models` built."""

    #: the analytics dataset the models were written to
    dataset: str
    #: the loaded dataset they read
    source_dataset: str
    #: wall time of the whole build (dbt run, dbt test, row counts), seconds
    seconds: float
    #: model name -> rows in its table
    models: dict[str, int]
    #: dbt profile used (the destination): duckdb, bigquery or bigquery_default
    profile: str = ""
    #: dbt test name -> status ("pass"); empty when tests were not run
    tests: dict[str, str] = field(default_factory=dict)
    #: dbt's target folder (compiled SQL, run_results.json) and its log folder (dbt.log)
    target_path: str = ""
    log_path: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "source_dataset": self.source_dataset,
            "seconds": round(self.seconds, 3),
            "models": dict(self.models),
            "profile": self.profile,
            "tests": dict(self.tests),
            "target_path": self.target_path,
            "log_path": self.log_path,
        }


def analytics_dataset_name(dataset: str) -> str:
    """The dataset the models of `dataset` go to: `<dataset>_analytics`."""
    return f"{dataset}{ANALYTICS_SUFFIX}"


def dbt_missing(adapter_module: str | None = None) -> str | None:
    """Why dbt cannot run here (one line naming the install command), or None if it can."""
    for module in ("dbt.cli.main", adapter_module):
        if module is None:
            continue
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):  # a parent package is missing or broken
            found = False
        if not found:
            what = "dbt is not installed" if module == "dbt.cli.main" else f"{module} is missing"
            return f"{what}: {INSTALL_HINT}"
    return None


def build_models(
    pipeline: dlt.Pipeline,
    *,
    analytics_dataset: str | None = None,
    run_tests: bool = True,
) -> ModelsBuild:
    """Build the analytics models over the pipeline's dataset with dlt's dbt runner.

    The models become tables of `analytics_dataset` (default `<dataset>_analytics`);
    `run_tests` runs the project's dbt tests (unique/not null keys) after them.
    Raises ModelsUnavailable without dbt (or for a destination without a profile here) and
    ModelsError, one line naming the failing model, when dbt fails.
    """
    started = time.monotonic()
    missing = dbt_missing()
    if missing:
        raise ModelsUnavailable(missing)
    source = pipeline.dataset_name
    dataset = analytics_dataset or analytics_dataset_name(source)
    if dataset == source:
        raise ModelsError(f"the analytics dataset must differ from the loaded one ({source})")
    runner = dlt.dbt.package(pipeline, str(PROJECT_DIR), venv=_current_python())
    profile = runner.config.package_profile_name
    if profile not in PROFILE_ADAPTERS:
        raise ModelsUnavailable(
            f"analytics models run on DuckDB and BigQuery; the destination's dbt profile "
            f"{profile!r} is not one of them"
        )
    missing = dbt_missing(PROFILE_ADAPTERS[profile])
    if missing:
        raise ModelsUnavailable(missing)
    runner.config.package_profiles_dir = str(PROFILES_DIR)
    work = Path(pipeline.working_dir) / WORK_FOLDER
    target_path, log_path = work / "target", work / "logs"
    flags = ["--fail-fast", *_dbt_flags(target_path, log_path)]
    with _dbt_environ(target_path, log_path), _captured() as out:
        if run_tests:
            # `dbt build` (models, each followed by its tests) in one dbt process: a process
            # costs seconds (imports, parsing). The runner's public methods are `run` and
            # `test`, one process each; `_run_dbt_command` is what both call (dlt 1.31).
            package_vars = runner._get_package_vars(destination_dataset_name=dataset)
            results = _invoke(
                "build", lambda: runner._run_dbt_command("build", flags, package_vars), out
            )
        else:
            results = _invoke(
                "run", lambda: runner.run(flags, destination_dataset_name=dataset), out
            )
    tests = {r.model_name: r.status for r in results or () if r.model_name not in _NODES}
    models = _row_counts(pipeline, dataset)
    return ModelsBuild(
        dataset=dataset,
        source_dataset=source,
        seconds=time.monotonic() - started,
        models=models,
        profile=profile,
        tests=tests,
        target_path=str(target_path),
        log_path=str(log_path),
    )


def compile_models_offline(
    adapter: str = "bigquery",
    *,
    dataset: str = "slack",
    analytics_dataset: str | None = None,
    work_dir: str | Path | None = None,
    project: str = "offline-project",
    timeout: float = 300.0,
) -> dict[str, str]:
    """Compile the models for `adapter` ("bigquery" or "duckdb") without a warehouse: the
    shipped profile with placeholder credentials (BigQuery: the service-account profile
    with a throwaway key made here, for `project`), dbt told not to query the warehouse
    (--no-populate-cache, --no-introspect), and every network access of the dbt process
    (connect, name lookup) made an error. Returns {model: compiled SQL}; dbt writes under
    `work_dir` (a temporary folder by default).

    dbt opens its connection even to compile: BigQuery's client then needs credentials,
    and Application Default Credentials would be looked up on the network (the metadata
    server); a service-account key is only used to sign a token request, which compiling
    never makes.
    """
    profile = {"bigquery": "bigquery", "duckdb": "duckdb"}.get(adapter)
    if profile is None:
        raise ValueError(f"adapter must be bigquery or duckdb, not {adapter!r}")
    missing = dbt_missing(PROFILE_ADAPTERS[profile])
    if missing:
        raise ModelsUnavailable(missing)
    with contextlib.ExitStack() as stack:
        if work_dir is None:
            work_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="slack-dbt-"))
        work = Path(work_dir)
        work.mkdir(parents=True, exist_ok=True)
        target_path, log_path = work / "target", work / "logs"
        package_vars = {
            "source_dataset_name": dataset,
            "destination_dataset_name": analytics_dataset or analytics_dataset_name(dataset),
        }
        args = [
            "compile",
            "--project-dir",
            str(PROJECT_DIR),
            "--profiles-dir",
            str(PROFILES_DIR),
            "--profile",
            profile,
            "--vars",
            json.dumps(package_vars),
            "--no-populate-cache",
            "--no-introspect",
            "--no-partial-parse",
            *_dbt_flags(target_path, log_path),
        ]
        env = {**os.environ, **DBT_ENV, **_offline_credentials(adapter, project, work)}
        proc = subprocess.run(
            [sys.executable, "-c", _OFFLINE_COMPILE, json.dumps(args)],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if proc.returncode != 0:
            raise ModelsError(
                f"offline dbt compile for {adapter} failed: "
                + _summary(proc.stdout + "\n" + proc.stderr)
            )
        compiled = target_path / "compiled" / PROJECT_NAME / "models"
        return {m: (compiled / f"{m}.sql").read_text() for m in MODELS}


# ------------------------------------------------------------------------------ internals

#: Python run first in the child of compile_models_offline: every network access (an IPv4
#: or IPv6 connect, a name lookup) raises, through an audit hook.
NO_NETWORK = """
import socket, sys

def _no_network(event, args):
    if event == "socket.connect" and args[0].family in (socket.AF_INET, socket.AF_INET6):
        raise OSError(f"network access during an offline dbt compile: connect {args[1]!r}")
    if event in ("socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyname_ex"):
        raise OSError(f"network access during an offline dbt compile: lookup {args[0]!r}")

sys.addaudithook(_no_network)
"""
#: The child of compile_models_offline: no network, then `dbt <argv[1] as JSON>`.
_OFFLINE_COMPILE = (
    NO_NETWORK
    + """
import json
from dbt.cli.main import dbtRunner

result = dbtRunner().invoke(json.loads(sys.argv[1]))
if not result.success:
    print(f"dbt compile failed: {result.exception}", file=sys.stderr)
    sys.exit(1)
"""
)


def _offline_credentials(adapter: str, project: str, work: Path) -> dict[str, str]:
    """The DLT__* variables the shipped profile reads, with placeholder values."""
    if adapter == "duckdb":
        return {"DLT__CREDENTIALS__DATABASE": str(work / "offline.duckdb")}
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return {
        "DLT__CREDENTIALS__PROJECT_ID": project,
        "DLT__CREDENTIALS__PRIVATE_KEY": pem,
        "DLT__CREDENTIALS__CLIENT_EMAIL": f"offline@{project}.iam.gserviceaccount.com",
        "DLT__CREDENTIALS__TOKEN_URI": "https://oauth2.googleapis.com/token",
        "DLT__LOCATION": "US",
    }


class _CurrentPython(Venv):
    """This interpreter as dlt's runner venv. `Venv.restore_current()` runs `python` from
    $VIRTUAL_ENV, or from PATH without one: possibly another Python, without dbt."""

    def start_command(
        self, entry_point: str, *script_args: Any, **popen_kwargs: Any
    ) -> subprocess.Popen[str]:
        if entry_point == "python":
            entry_point = sys.executable
        return super().start_command(entry_point, *script_args, **popen_kwargs)


def _current_python() -> Any:
    context = types.SimpleNamespace(
        bin_path=os.path.dirname(sys.executable), env_exe=sys.executable
    )
    return _CurrentPython(context, current=True)


def _dbt_flags(target_path: Path, log_path: Path) -> list[str]:
    return [
        "--target-path",
        str(target_path),
        "--log-path",
        str(log_path),
        "--no-send-anonymous-usage-stats",
        "--no-use-colors",
    ]


@contextlib.contextmanager
def _dbt_environ(target_path: Path, log_path: Path) -> Iterator[None]:
    """DBT_ENV and the target/log paths in os.environ (dlt's runner passes os.environ to
    the dbt process) while dbt runs; the previous values come back after."""
    values = {**DBT_ENV, "DBT_TARGET_PATH": str(target_path), "DBT_LOG_PATH": str(log_path)}
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def _captured() -> Iterator[io.StringIO]:
    """dbt's console lines (dlt's runner echoes them to sys.stdout/stderr), kept for the
    error message instead of printed."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
        yield buf


def _invoke(
    command: str, call: Callable[[], Sequence[Any] | None], out: io.StringIO
) -> Sequence[Any] | None:
    """Run one dbt command through the runner; any failure becomes a one-line ModelsError."""
    from dlt.helpers.dbt.exceptions import DBTProcessingError

    try:
        return call()
    except DBTProcessingError as exc:
        raise _models_error(command, exc.run_results, out.getvalue()) from None
    except Exception as exc:  # the dbt process died, or dlt could not start it
        detail = _summary(f"{out.getvalue()}\n{type(exc).__name__}: {exc}")
        raise ModelsError(f"dbt could not build the analytics models: {detail}") from None


def _models_error(command: str, results: Sequence[Any] | None, output: str) -> ModelsError:
    """The first failed node of a dbt command as one line naming its model."""
    for r in results or ():
        if r.status not in ("error", "fail"):
            continue
        if r.model_name in _NODES:
            return ModelsError(
                f"analytics model {r.model_name} failed: {_summary(r.message or r.status)}",
                r.model_name,
            )
        model = _tested_model(r.model_name)
        return ModelsError(
            f"analytics model {model or '?'} failed dbt test {r.model_name}: "
            f"{_summary(r.message or r.status)}",
            model,
        )
    # no node result: dbt stopped before running (a compilation or connection error)
    match = re.search(r" in (?:model|test|macro) (\w+)", output)
    model = match.group(1) if match else None
    where = f"analytics model {model} failed" if model else f"dbt {command} failed"
    return ModelsError(f"{where}: {_summary(output)}", model)


def _tested_model(test_name: str) -> str | None:
    """The model a dbt test name is about (not_null_threads_asked_at -> threads)."""
    found = [m for m in MODELS if f"_{m}_" in f"_{test_name}_"]
    return max(found, key=len) if found else None


_NOISE = re.compile(
    r"^(Runtime|Database|Compilation) Error( in (model|test|macro) \S+( \(\S+\))?)?:?\s*$"
    r"|^\d\d:\d\d:\d\d\s*$|^Traceback|^\s*File \"|^Completed with|^Done\. PASS"
    r"|^Encountered an error:?$|^Failure in test"
)


def _summary(text: str, limit: int = 300) -> str:
    """The first informative line of dbt's output or message (no traceback), shortened."""
    lines = [re.sub(r"^\d\d:\d\d:\d\d\s+", "", ln).strip() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln and not _NOISE.search(ln)]
    for ln in lines:
        if "Error" in ln or "error" in ln:
            line = ln
            break
    else:
        line = lines[0] if lines else "no detail from dbt"
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _row_counts(pipeline: dlt.Pipeline, dataset: str) -> dict[str, int]:
    """Rows of each model's table (one query; the connection is closed on return)."""
    with pipeline.sql_client() as client:
        parts = [
            f"select '{m}' as model, count(*) as n from "
            + ".".join(client.make_qualified_table_name_path(m, dataset_name=dataset))
            for m in MODELS
        ]
        rows = client.execute_sql(" union all ".join(parts)) or []
    counts = {str(m): int(n) for m, n in rows}
    return {m: counts[m] for m in MODELS}
