"""The README's examples of testing with the in-memory AWS ("Testing your handlers" and
"Injecting faults"), run as written."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def example(heading: str) -> str:
    """The first Python example after ``heading`` in the README."""
    text = (ROOT / "README.md").read_text()
    section = text.split(f"\n{heading}\n", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match is not None, "the section has no Python example"
    return match.group(1)


@pytest.mark.parametrize("heading", ["## Testing your handlers", "### Injecting faults"])
async def test_the_readme_example_passes(heading: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    namespace: dict[str, Any] = {}
    exec(compile(example(heading), f"README.md ({heading})", "exec"), namespace)
    tests = [v for k, v in namespace.items() if k.startswith("test_")]
    assert len(tests) == 1
    await tests[0]()
