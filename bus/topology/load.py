"""topology.yaml -> ``Topology``, with every problem at its ``FILE:LINE:COL``, all at once.

Three passes, each reporting everything it finds:

1. YAML: at most ``MAX_FILE_BYTES``, composed with PyYAML's safe loader within limits of depth
   and alias expansion, keeping the position of every key and value (``bus.topology.document``);
   syntax errors, duplicate keys and limits are problems.
2. Structure: the pydantic model. Each error's ``loc`` is mapped to the nearest known position and
   explained in words (``bus.topology.explain``).
3. Semantics: ``bus.topology.check`` on the document with its broken parts cut away, so that a typo
   in one queue does not hide a wrong reference in a subscription. Findings that only follow from
   a part already reported broken are left out.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from bus.errors import Problem, TopologyError
from bus.topology.check import check_topology
from bus.topology.document import Document, parse_document
from bus.topology.explain import Explained, explain_errors
from bus.topology.model import Topology
from bus.topology.patterns import KeyPath

MAX_FILE_BYTES = 2 * 2**20
"""A topology file larger than this is refused before it is parsed (28,000 queues take 1 MiB)."""
_MAX_REPAIRS = 25
_PLACEHOLDERS: dict[str, dict[str, Any]] = {
    "topics": {},
    "queues": {},
    "buses": {},
    "events": {"model": "invalid:placeholder"},
}
"""What a broken declaration is replaced with, so that references to it still resolve."""
_FIELD_PLACEHOLDERS: dict[str, Any] = {
    "name": "invalid",
    "model": "invalid:placeholder",
    "upcast": "invalid:placeholder",
    "topic": "<invalid>",
    "queue": "<invalid>",
    "event_pattern": {"invalid": ["invalid"]},
    "targets": [{"queue": "<invalid>"}],
    "input_template": "invalid",
    "events": {"<invalid>": "invalid:placeholder"},
}
"""Stand-ins for broken or missing required keys, so that the rest of their owner is checked;
findings under a stand-in are never reported."""


class _TooLarge(Exception):
    pass


def _read(path: Path) -> str:
    """The file's text; ``_TooLarge`` beyond ``MAX_FILE_BYTES``, reading no more than that."""
    with path.open("rb") as stream:
        data = stream.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise _TooLarge(
            f"the topology file is larger than {MAX_FILE_BYTES // 2**20} MiB "
            f"({MAX_FILE_BYTES:,} bytes); split it or remove what is not topology"
        )
    return data.decode("utf-8")


def load_topology(path: Path, *, env: str | None = None) -> Topology:
    """Read and validate ``path`` for environment ``env``; raise ``TopologyError`` listing every
    problem (YAML syntax, structure, semantics), sorted by position."""
    topology, problems = inspect_topology(path, env=env)
    if problems or topology is None:
        raise TopologyError(problems)
    return topology


def inspect_topology(
    path: Path, *, env: str | None = None
) -> tuple[Topology | None, list[Problem]]:
    """The topology (``None`` unless it is free of problems) and every problem found."""
    file = str(path)
    try:
        text = _read(Path(path))
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return None, [Problem(file, 1, 1, f"cannot read the topology file: {reason}")]
    except _TooLarge as exc:
        return None, [Problem(file, 1, 1, str(exc))]
    doc = parse_document(text, file)
    if not doc.problems and doc.data is None:
        doc.problems.append(
            Problem(file, 1, 1, "the file is empty; a topology needs at least `name:`")
        )
    if doc.data is None:
        return None, sorted(doc.problems)
    try:
        topology = Topology.model_validate(doc.data)
    except ValidationError as exc:
        explained = explain_errors(exc.errors(), doc)
        problems = [doc.problem(e.path, e.message, key=e.at_key) for e in explained]
        return None, sorted(doc.problems + problems + _semantic_after_repair(doc, explained, env))
    problems = doc.problems + [
        doc.problem(f.path, f.message) for f in check_topology(topology, env)
    ]
    return (None if problems else topology), sorted(problems)


# -- semantic checks on a document with its broken parts cut away ---------------------------------


@dataclass
class _Repair:
    """A copy of the document's data with broken parts removed or replaced by placeholders."""

    data: Any
    damaged: list[KeyPath] = field(default_factory=list)
    kept: dict[KeyPath, list[int]] = field(default_factory=dict)
    """For each list shortened: the original index of every remaining item. (Lists of models are
    never nested in lists in the topology, so a list's path is the same before and after.)"""

    def cut(self, paths: Iterable[KeyPath]) -> bool:
        """Remove (or replace) each part named in current coordinates; ``False`` if none was."""
        marked = [self.original(p) for p in paths if self._mark(p)]
        self.damaged.extend(marked)
        self._sweep(self.data, ())
        return bool(marked)

    def _mark(self, path: KeyPath) -> bool:
        if not path:
            return False
        parent = self._get(path[:-1])
        key = path[-1]
        placeholder = _FIELD_PLACEHOLDERS.get(str(key))
        if isinstance(parent, dict) and key not in parent:  # a required key is missing
            if placeholder is None:
                return self._mark(path[:-1])
            parent[key] = copy.deepcopy(placeholder)
            return True
        if isinstance(parent, dict):
            section = _PLACEHOLDERS.get(str(path[0])) if len(path) == 2 else None
            if section is not None and parent[key] != section:
                parent[key] = copy.deepcopy(section)
            elif placeholder is not None and parent[key] == placeholder:
                return self._mark(path[:-1])  # even the placeholder does not fit: cut the owner
            else:
                parent[key] = _CUT
            return True
        if isinstance(parent, list) and isinstance(key, int) and 0 <= key < len(parent):
            parent[key] = _CUT
            return True
        return False

    def _get(self, path: KeyPath) -> Any:
        node = self.data
        for part in path:
            if isinstance(node, dict):
                node = node.get(part)
            elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
                node = node[part]
            else:
                return None
        return node

    def _sweep(self, node: Any, path: KeyPath) -> None:
        if isinstance(node, dict):
            for key in [k for k, v in node.items() if v is _CUT]:
                del node[key]
            for key, value in node.items():
                self._sweep(value, (*path, key))
        elif isinstance(node, list):
            original = self.kept.get(path, list(range(len(node))))
            survivors = [i for i, v in enumerate(node) if v is not _CUT]
            if len(survivors) != len(node):
                self.kept[path] = [original[i] for i in survivors]
                node[:] = [node[i] for i in survivors]
            for i, value in enumerate(node):
                self._sweep(value, (*path, i))

    def original(self, path: KeyPath) -> KeyPath:
        """``path`` in the repaired data -> the same place in the original document."""
        out: list[str | int] = []
        for part in path:
            kept = self.kept.get(tuple(out))
            if kept is not None and isinstance(part, int) and 0 <= part < len(kept):
                part = kept[part]
            out.append(part)
        return tuple(out)

    def covers(self, path: KeyPath) -> bool:
        return any(path[: len(d)] == d for d in self.damaged)


class _Cut:
    def __repr__(self) -> str:
        return "<cut>"


_CUT = _Cut()


def _semantic_after_repair(doc: Document, first: list[Explained], env: str | None) -> list[Problem]:
    repair = _Repair(copy.deepcopy(doc.data))
    explained = first
    for _ in range(_MAX_REPAIRS):
        if not repair.cut(e.cut for e in explained):
            return []
        try:
            topology = Topology.model_validate(repair.data)
        except ValidationError as exc:
            explained = explain_errors(exc.errors(), Document(repair.data, {}, {}, doc.file))
            continue
        problems = []
        for finding in check_topology(topology, env):
            path = repair.original(finding.path)
            depends = [repair.original(p) for p in finding.depends_on]
            if not any(repair.covers(p) for p in [path, *depends]):
                problems.append(doc.problem(path, finding.message))
        return problems
    return []
