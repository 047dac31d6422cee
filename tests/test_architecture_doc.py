"""docs/architecture.md names every module of ``bus/`` and nothing that is gone."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def named_in(text: str) -> set[str]:
    """Module paths the text names: `bus/x/y.py`, and the bare names that follow one in the same
    list (`bus/aws/limits.py`, `backoff.py` names bus/aws/backoff.py)."""
    names = set(re.findall(r"`(bus/[\w/]+\.py)`", text))
    for run in re.finditer(r"`(bus/[\w/]+/)\w+\.py`((?:, `\w+\.py`)+)", text):
        names.update(run.group(1) + bare for bare in re.findall(r"`(\w+\.py)`", run.group(2)))
    return names


def test_every_module_is_named_and_every_name_is_a_module() -> None:
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "bus").rglob("*.py")}
    named = named_in((ROOT / "docs" / "architecture.md").read_text())
    assert sorted(modules - named) == []
    assert sorted(named - modules) == []


def test_a_bare_name_after_a_path_is_read_in_that_path_s_folder() -> None:
    assert named_in("`bus/aws/limits.py`, `backoff.py`, `failure.py` and `bus/x.py`") == {
        "bus/aws/limits.py", "bus/aws/backoff.py", "bus/aws/failure.py", "bus/x.py",
    }  # fmt: skip
