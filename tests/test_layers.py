"""The layering of docs/DESIGN.md ("The map"), checked on the source: imports go downward
only, and `ingest.source` is reached through its public surface."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("ingest", "flows", "slack_ingest", "benchmarks")


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(line, module) for every import in a file, function-level ones included."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
    return found


def modules(*folders: str) -> list[Path]:
    return sorted(p for f in folders for p in (ROOT / f).rglob("*.py"))


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else path.name


def offending(files: list[Path], bad: tuple[str, ...]) -> list[str]:
    return [
        f"{rel(p)}:{line} imports {name}"
        for p in files
        for line, name in imports_of(p)
        if any(name == b or name.startswith(b + ".") for b in bad)
    ]


def test_ingest_never_imports_flows_or_the_top():
    assert offending(modules("ingest"), ("flows", "slack_ingest", "benchmarks")) == []


def test_flows_never_import_the_top():
    assert offending(modules("flows"), ("slack_ingest", "benchmarks")) == []


@pytest.mark.parametrize(
    ("folder", "bad"),
    [
        ("ingest/slack", ("dlt", "prefect", "ingest.simulator", "ingest.source", "ingest.load")),
        ("ingest/source", ("prefect", "ingest.load", "ingest.cli", "ingest.config")),
        ("ingest/simulator", ("ingest.slack", "ingest.source", "ingest.load", "dlt", "prefect")),
        ("ingest/load", ("ingest.cli", "ingest.analytics", "prefect")),
        # the analytics models run after a load: above it, below the CLI and the flows
        ("ingest/analytics", ("ingest.cli", "prefect")),
    ],
)
def test_lower_layers_import_nothing_above(folder, bad):
    assert offending(modules(folder), bad) == []


def test_source_is_used_through_its_public_surface():
    """Outside ingest/source, only `ingest.source` itself (its `__all__`) is imported."""
    import ingest.source

    outside = [p for p in modules(*PACKAGES) if "ingest/source/" not in p.as_posix()]
    wrong = []
    for p in outside:
        for line, name in imports_of(p):
            if not name.startswith("ingest.source."):
                continue
            attr = name.removeprefix("ingest.source.")
            if "." in attr or attr not in ingest.source.__all__:
                wrong.append(f"{rel(p)}:{line} imports {name}")
    assert wrong == []


def test_the_guard_sees_a_violation(tmp_path):
    """The checks above catch an import inside a function too (a guard that cannot fail
    guards nothing)."""
    bad = tmp_path / "bad.py"
    bad.write_text(
        "def f():\n    from flows.cli import flow_app\n    import ingest.source.fanout\n"
    )
    assert offending([bad], ("flows",)) == [
        "bad.py:2 imports flows.cli",
        "bad.py:2 imports flows.cli.flow_app",
    ]
    assert offending([bad], ("ingest.source",)) == ["bad.py:3 imports ingest.source.fanout"]
