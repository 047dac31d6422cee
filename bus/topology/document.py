"""A YAML document as plain data plus the position of every key and value in it.

PyYAML's ``safe_load`` forgets where things were and silently keeps the last of two equal keys.
Here the document is composed into nodes with the safe loader and walked by hand: scalars are
constructed by PyYAML (so ``30`` is an int and ``true`` a bool, as usual), mappings and sequences
are rebuilt while recording ``path -> (line, column)`` (1-based) and reporting duplicate keys.

Limits, so that a hostile file is refused in bounded time and memory (the "billion laughs": ten
aliases of ten aliases of ... expand 422 bytes into 10⁹ values): values nest at most ``MAX_DEPTH``
deep (aliases included), and all aliases (``*name``, ``<<: *name``) together add at most
``MAX_ALIAS_VALUES`` values. Both are checked while composing, at the alias or value that goes
beyond, before anything is expanded. (The file's size is bounded by ``bus.topology.load``.)
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.error import Mark
from yaml.events import AliasEvent, Event
from yaml.nodes import CollectionNode, MappingNode, Node, ScalarNode, SequenceNode
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import Resolver
from yaml.scanner import Scanner

from bus.errors import Problem
from bus.topology.patterns import KeyPath

Position = tuple[int, int]
_MERGE_TAG = "tag:yaml.org,2002:merge"
MAX_DEPTH = 64
"""Levels of nested mappings and lists, aliases expanded."""
MAX_ALIAS_VALUES = 100_000
"""Values (scalars, mappings, lists) that all aliases of one document add when expanded."""


@dataclass
class Document:
    """``data`` with the positions of its parts. ``values[path]`` is where a scalar value starts
    (or, for a mapping or list, where its key is); ``keys[path]`` is where the key naming it is."""

    data: Any
    values: dict[KeyPath, Position]
    keys: dict[KeyPath, Position]
    file: str
    problems: list[Problem] = field(default_factory=list)
    key_text: dict[KeyPath, str] = field(default_factory=dict)
    """How keys that YAML did not read as strings were written (``on`` for the key ``True``)."""

    def position(self, path: KeyPath, *, key: bool = False) -> Position:
        """The position of ``path``, or of its nearest ancestor that has one."""
        for end in range(len(path), -1, -1):
            prefix = path[:end]
            found = (self.keys.get(prefix) if key else None) or self.values.get(prefix)
            if found is not None:
                return found
        return (1, 1)

    def problem(self, path: KeyPath, message: str, *, key: bool = False) -> Problem:
        line, column = self.position(path, key=key)
        where = format_path(path, self.data, self.key_text)
        return Problem(self.file, line, column, f"{where}: {message}")


def format_path(
    path: KeyPath, data: Any = None, key_text: Mapping[KeyPath, str] | None = None
) -> str:
    """``queues.billing.dead_letter``, ``subscriptions[0].queue``; ``(top level)`` for ``()``."""
    if not path:
        return "(top level)"
    out = ""
    node = data
    for end, part in enumerate(path, 1):
        if isinstance(part, int) and not isinstance(part, bool) and not isinstance(node, dict):
            out += f"[{part}]"
            node = node[part] if isinstance(node, list) and 0 <= part < len(node) else None
        else:
            shown = (key_text or {}).get(path[:end]) or _show_key(part)
            out += f".{shown}" if out else shown
            node = node.get(part) if isinstance(node, dict) else None
    return out


def _show_key(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    return "null" if key is None else str(key)


class _Mark(Protocol):
    line: int
    column: int


_NOWHERE = Mark("", 0, 0, 0, "", 0)


class _LimitExceeded(Exception):
    def __init__(self, mark: _Mark, message: str) -> None:
        super().__init__(message)
        self.mark = mark
        self.message = message


class _Bounded(Composer):
    """PyYAML's composer, refusing documents deeper than ``MAX_DEPTH`` or whose aliases would
    add more than ``MAX_ALIAS_VALUES`` values (``_LimitExceeded``, at the alias or value)."""

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0
        self.alias_values = 0
        self.open: list[Node] = []
        self.sizes: dict[int, tuple[int, int]] = {}
        """Expanded (values, depth) of each finished collection node met so far, by ``id``."""

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if parent is not None:
            self.open.append(parent)
        try:
            if self.check_event(AliasEvent):
                mark = self._next_mark()
                node = super().compose_node(parent, index)
                if node is not None:
                    self._count_alias(node, mark)
                return node
            return self._compose_value(parent, index)
        finally:
            if parent is not None:
                self.open.pop()

    def _compose_value(self, parent: Node | None, index: Any) -> Node | None:
        if self.depth == MAX_DEPTH:
            raise _LimitExceeded(
                self._next_mark(), f"values nest more than {MAX_DEPTH} levels deep"
            )
        self.depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def _next_mark(self) -> _Mark:
        mark = self.peek_event().start_mark
        return mark if mark is not None else _NOWHERE

    if TYPE_CHECKING:  # the parser's, which comes later in a loader's bases

        def check_event(self, *choices: Any) -> bool: ...
        def peek_event(self) -> Event: ...

    def _count_alias(self, node: Node, mark: _Mark) -> None:
        values, depth = self._expanded(node)
        self.alias_values += values
        if self.alias_values > MAX_ALIAS_VALUES:
            raise _LimitExceeded(
                mark,
                f"aliases expand to more than {MAX_ALIAS_VALUES:,} values "
                "(a YAML alias bomb?); write the values out or use fewer aliases",
            )
        if self.depth + depth > MAX_DEPTH:
            raise _LimitExceeded(
                mark, f"values nest more than {MAX_DEPTH} levels deep once aliases are expanded"
            )

    def _expanded(self, node: Node) -> tuple[int, int]:
        """(values, depth) of ``node`` with its aliases expanded. Its own new parts are walked
        once (at most ``MAX_DEPTH`` deep, as composed); aliases inside it were counted when met,
        and nodes still being composed (a recursive alias) count as one value."""
        if not isinstance(node, CollectionNode) or any(node is o for o in self.open):
            return 1, 1
        known = self.sizes.get(id(node))
        if known is not None:
            return known
        values, depth = 1, 0
        items = node.value if isinstance(node, SequenceNode) else _flat(node)
        for child in items:
            child_values, child_depth = self._expanded(child)
            values += child_values
            depth = max(depth, child_depth)
        self.sizes[id(node)] = (values, depth + 1)
        return values, depth + 1


def _flat(node: Node) -> list[Node]:
    return [part for pair in node.value for part in pair]


class _Loader(_Bounded, Reader, Scanner, Parser, SafeConstructor, Resolver):
    """PyYAML's safe loader in pure Python, with the limits: its error messages are the ones
    reported."""

    def __init__(self, text: str) -> None:
        Reader.__init__(self, text)
        Scanner.__init__(self)
        Parser.__init__(self)
        _Bounded.__init__(self)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)


_FastLoader: type[_Loader] | None = None
try:
    from yaml._yaml import CParser

    class _CLoader(_Bounded, CParser, SafeConstructor, Resolver):
        """The same with libyaml's parser (about eight times faster); composing, with the limits,
        stays in Python."""

        def __init__(self, text: str) -> None:
            CParser.__init__(self, text)
            _Bounded.__init__(self)
            SafeConstructor.__init__(self)
            Resolver.__init__(self)

    _FastLoader = _CLoader  # type: ignore[assignment]
except ImportError:  # PyYAML built without libyaml
    pass


def parse_document(text: str, file: str) -> Document:
    """Compose ``text``; syntax errors and limits become problems (``data`` is then ``None``).

    libyaml parses when PyYAML has it; a document it finds wrong is parsed again by PyYAML's
    Python parser, whose messages and positions are the ones reported."""
    if _FastLoader is not None:
        doc = Document(None, {}, {}, file)
        try:
            _compose(_FastLoader(text), doc)
        except (yaml.YAMLError, _LimitExceeded):
            pass
        else:
            return doc
    doc = Document(None, {}, {}, file)
    try:
        _compose(_Loader(text), doc)
    except _LimitExceeded as exc:
        doc.data = None
        doc.problems.append(Problem(file, exc.mark.line + 1, exc.mark.column + 1, exc.message))
    except yaml.MarkedYAMLError as exc:
        doc.data = None
        doc.problems.append(_syntax_problem(file, exc))
    except yaml.YAMLError as exc:
        doc.data = None
        doc.problems.append(Problem(file, 1, 1, f"YAML error: {exc}"))
    return doc


def _compose(loader: _Loader, doc: Document) -> None:
    try:
        node = loader.get_single_node()
        if node is None:
            return
        if not isinstance(node, MappingNode):
            doc.problems.append(
                _at(doc, node, "the topology must be a mapping (name: ..., queues: ...)")
            )
            return
        doc.data = _Builder(loader, doc).build(node, ())
    finally:
        loader.dispose()


def _syntax_problem(file: str, exc: yaml.MarkedYAMLError) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    words = [w for w in (exc.context, exc.problem) if w]
    hint = " (check the indentation)" if "<block" in (exc.problem or "") else ""
    return Problem(file, line, column, "YAML syntax error: " + ", ".join(words) + hint)


def _pos(node: Node) -> Position:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _at(doc: Document, node: Node, message: str) -> Problem:
    line, column = _pos(node)
    return Problem(doc.file, line, column, message)


class _Builder:
    def __init__(self, loader: _Loader, doc: Document) -> None:
        self.loader = loader
        self.doc = doc
        self.active: set[int] = set()

    def build(self, node: Node, path: KeyPath, key_node: Node | None = None) -> Any:
        self.doc.values[path] = _pos(
            key_node if key_node is not None and not isinstance(node, ScalarNode) else node
        )
        if isinstance(node, ScalarNode):
            return self.loader.construct_object(node, deep=True)
        if id(node) in self.active:
            self.doc.problems.append(_at(self.doc, node, f"{format_path(path)}: recursive alias"))
            return None
        self.active.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
            if isinstance(node, MappingNode):
                return self._mapping(node, path)
            return None
        finally:
            self.active.discard(id(node))

    def _mapping(self, node: MappingNode, path: KeyPath) -> dict[Any, Any]:
        seen: dict[Hashable, Node] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            key = self._key(key_node, path)
            if key is _BAD_KEY:
                continue
            if key in seen:
                first = seen[key].start_mark.line + 1
                message = (
                    f"{format_path((*path, key))}: duplicate key (first defined on line {first})"
                )
                self.doc.problems.append(_at(self.doc, key_node, message))
            seen.setdefault(key, key_node)
        self.loader.flatten_mapping(node)  # resolves `<<: *anchor` merges, which come first
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = self._key(key_node, path, report=False)
            if key is _BAD_KEY:
                continue
            self.doc.keys[(*path, key)] = _pos(key_node)
            if not isinstance(key, str) and isinstance(key_node, ScalarNode):
                self.doc.key_text[(*path, key)] = str(key_node.value)
            out[key] = self.build(value_node, (*path, key), key_node)
        return out

    def _key(self, node: Node, path: KeyPath, *, report: bool = True) -> Any:
        key = (
            self.loader.construct_object(node, deep=True) if isinstance(node, ScalarNode) else None
        )
        if not isinstance(node, ScalarNode) or not isinstance(key, Hashable):
            if report:
                self.doc.problems.append(
                    _at(self.doc, node, f"{format_path(path)}: keys must be plain names")
                )
            return _BAD_KEY
        return key


_BAD_KEY = object()
