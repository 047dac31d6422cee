"""Where a blocked thread is, named for a log line: the frames of the loop thread that the loop
watchdog (``bus.worker.watchdog``) reads with ``sys._current_frames()`` while the loop is blocked.

The frame worth naming is the application's own (outside the standard library, site-packages and
bus, where the fix is), with the innermost frame beside it (where it waits: ``ssl.py``,
``threading.py``), a few frames of the stack, and the handler whose code is on it. Pure functions
over frames: they read, never call into, what they describe.
"""

from __future__ import annotations

import asyncio
import linecache
import sysconfig
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import CodeType, FrameType
from typing import Any

FRAMES = 6
"""Frames of the blocked stack logged (``frames``), innermost first (not ``stack``: structlog
renders a key of that name itself)."""
DEEPEST = 200
"""Frames looked at, from the innermost out."""


@dataclass(frozen=True)
class Site:
    """One frame of the blocked loop thread."""

    file: str
    line: int
    function: str

    @classmethod
    def of(cls, frame: FrameType) -> Site:
        return cls(frame.f_code.co_filename, frame.f_lineno or 0, frame.f_code.co_name)

    def __str__(self) -> str:
        return f"{_short(self.file)}:{self.line} in {self.function}"

    @property
    def source(self) -> str:
        return linecache.getline(self.file, self.line).strip()


def _short(file: str) -> str:
    """``file`` relative to the current directory when it is under it."""
    try:
        return str(Path(file).relative_to(Path.cwd()))
    except ValueError:
        return file


def _library_roots() -> tuple[str, ...]:
    """Where code that is not the application's lives: the standard library, site-packages, bus."""
    paths = sysconfig.get_paths()
    roots = {paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths}
    roots.add(str(Path(__file__).resolve().parents[1]))
    return tuple(str(Path(root)) + "/" for root in sorted(roots))


LIBRARY = _library_roots()
LOOP_RUN = asyncio.events.Handle._run.__code__
"""Where the loop runs a callback: the frames outside it are the loop's own, not worth naming."""


def is_application(file: str) -> bool:
    """Whether ``file`` is the application's code: not the standard library, site-packages or
    bus, nor generated (``<string>``, ``<frozen ...>``)."""
    return not file.startswith("<") and not file.startswith(LIBRARY)


def blocked_fields(frame: FrameType, handlers: Mapping[CodeType, str]) -> dict[str, Any]:
    """The log fields saying where a blocked loop thread is, from its innermost ``frame`` out to
    the callback the loop runs:
    ``where`` and ``line`` (the innermost frame of the application's code, else of a handler,
    else the innermost), ``innermost`` and ``innermost_line`` (when another frame),
    ``frames`` (the innermost ``FRAMES``) and ``handler`` (a handler on the stack)."""
    frames: list[FrameType] = []
    current: FrameType | None = frame
    while current is not None and len(frames) < DEEPEST and current.f_code is not LOOP_RUN:
        frames.append(current)
        current = current.f_back
    if not frames:  # the loop's own machinery, between two callbacks
        frames.append(frame)
    handler = next((handlers[f.f_code] for f in frames if f.f_code in handlers), None)
    chosen = next((f for f in frames if is_application(f.f_code.co_filename)), None)
    if chosen is None:
        chosen = next((f for f in frames if f.f_code in handlers), frames[0])
    where, innermost = Site.of(chosen), Site.of(frames[0])
    fields: dict[str, Any] = {"where": str(where), "line": where.source}
    if innermost != where:
        fields.update(innermost=str(innermost), innermost_line=innermost.source)
    fields["frames"] = [str(Site.of(f)) for f in frames[:FRAMES]]
    if handler is not None:
        fields["handler"] = handler
    return fields
