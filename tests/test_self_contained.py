"""A user's clone has no shared folder beside it: nothing in the project may read one."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# a path built to the folder beside the repository: a relative one, parents[n] / "shared", ...
OUTSIDE = re.compile(r"""\.\.[/\\]shared|/\s*["']shared["']|["']shared["']\s*/""")


def test_no_code_reads_the_shared_folder_beside_the_repo():
    offenders = []
    for path in ROOT.rglob("*.py"):
        if any(part.startswith(".venv") or part == "__pycache__" for part in path.parts):
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            if OUTSIDE.search(code) and path.name != "test_self_contained.py":
                offenders.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def test_the_samples_the_tests_use_ship_with_the_repo():
    from tests.conftest import SAMPLES

    assert (SAMPLES / "conversations.history.json").is_file()
    assert (SAMPLES / "conversations.replies.json").is_file()
