"""``json.loads``, faster: one parser for the JSON bus reads on hot paths (message bodies, AWS
answers, the in-memory AWS's documents).

pydantic-core's parser reads the same JSON several times faster. Where it refuses what the
standard library accepts (a lone surrogate escape such as ``"\\ud800"``, nesting deeper than its
limit, a byte that is not UTF-8), ``json.loads`` reads the text again, so what is accepted, what
it becomes, and the error for what is not, stay the standard library's.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic_core import from_json


def loads(data: str | bytes) -> Any:
    """``json.loads(data)`` (bytes as UTF-8), by the faster parser where it agrees."""
    try:
        return from_json(data)
    except ValueError:
        return json.loads(data.decode("utf-8") if isinstance(data, bytes) else data)
