"""What an EventBridge target receives: the event, ``Input``, ``InputPath`` or ``InputTransformer``.

Paths are the JSONPath subset EventBridge supports: ``$``, dot notation, ``[n]`` indices and
``[*]``/``.*`` wildcards. In an ``InputTemplate``, a ``<name>`` inside a JSON string is replaced by
the value's text, and outside a string by the value as JSON (a missing value is ``null``). The
predefined ``aws.events.rule-arn``, ``aws.events.rule-name``, ``aws.events.event.ingestion-time``,
``aws.events.event`` (the event without ``detail``) and ``aws.events.event.json`` are served.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

_MISSING = object()
_TOKEN = re.compile(r"\.([^.\[\]]+)|\[(\d+|\*)\]")
_PLACEHOLDER = re.compile(r"<([A-Za-z0-9_.\-]+)>")
_COMPACT = json.JSONEncoder(separators=(",", ":")).encode
"""``json.dumps(value, separators=(",", ":"))``, without building an encoder per call."""


def select(document: Any, path: str) -> Any:
    """The value at ``path`` in ``document`` (a list for wildcards; ``_MISSING`` if absent)."""
    if not path.startswith("$"):
        return _MISSING
    values: list[Any] = [document]
    wild = False
    for name, index in _TOKEN.findall(path[1:]):
        nxt: list[Any] = []
        for value in values:
            if name == "*" or index == "*":
                wild = True
                nxt.extend(
                    value.values()
                    if isinstance(value, dict)
                    else value
                    if isinstance(value, list)
                    else []
                )
            elif name:
                if isinstance(value, dict) and name in value:
                    nxt.append(value[name])
            elif isinstance(value, list) and int(index) < len(value):
                nxt.append(value[int(index)])
        values = nxt
    if wild:
        return values
    return values[0] if values else _MISSING


def whole_event(event: dict[str, Any]) -> str:
    """The event as a target without an input setting receives it."""
    return _COMPACT(event)


def target_input(
    target: Mapping[str, Any], event: dict[str, Any], rule_arn: str, rule_name: str, ingested: str
) -> str:
    """The message body EventBridge sends to ``target`` for ``event``."""
    if "Input" in target:
        return str(target["Input"])
    if target.get("InputPath"):
        value = select(event, str(target["InputPath"]))
        return _COMPACT(None if value is _MISSING else value)
    transformer = target.get("InputTransformer")
    if not transformer:
        return whole_event(event)
    values: dict[str, Any] = {
        name: select(event, path) for name, path in transformer.get("InputPathsMap", {}).items()
    }
    values.setdefault("aws.events.rule-arn", rule_arn)
    values.setdefault("aws.events.rule-name", rule_name)
    values.setdefault("aws.events.event.ingestion-time", ingested)
    values.setdefault("aws.events.event", {k: v for k, v in event.items() if k != "detail"})
    values.setdefault("aws.events.event.json", event)
    return render(str(transformer["InputTemplate"]), values)


def render(template: str, values: Mapping[str, Any]) -> str:
    """Fill ``template``'s placeholders: as text inside JSON strings, as JSON outside them."""
    out: list[str] = []
    in_string = escaped = False
    pos = 0
    while pos < len(template):
        char = template[pos]
        match = _PLACEHOLDER.match(template, pos) if char == "<" else None
        if match and match.group(1) in values:
            value = values[match.group(1)]
            out.append(_as_text(value) if in_string else _as_json(value))
            pos = match.end()
            continue
        if in_string and not escaped and char == '"':
            in_string = False
        elif not in_string and char == '"':
            in_string = True
        escaped = in_string and char == "\\" and not escaped
        out.append(char)
        pos += 1
    return "".join(out)


def _as_json(value: Any) -> str:
    return "null" if value is _MISSING else json.dumps(value, separators=(",", ":"))


def _as_text(value: Any) -> str:
    if value is _MISSING or value is None:
        return ""
    if isinstance(value, str):
        return json.dumps(value)[1:-1]
    return json.dumps(value, separators=(",", ":"))
