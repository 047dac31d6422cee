"""The User-Agent header of a client, built once per set of features instead of twice per call.

botocore builds the header from a dozen components (SDK, OS, Python, configuration, the features a
call used), each sanitised character by character, once when it serialises a request and again
when the request is created: about a tenth of the CPU of a small SQS call. The string depends only
on the client (fixed once it is created) and on the features botocore records for the call under
way (``botocore.context``: retries, an endpoint override ...), so ``cache_user_agent`` remembers
the string per set of features. The header sent stays what botocore would build.

It relies on a botocore internal, the client's ``_user_agent_creator`` (and on
``botocore.context``, which aiobotocore uses itself); a client without it is left as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.context import get_context  # aiobotocore's own calls run in this context

MAX_ENTRIES = 64
"""Feature sets remembered per client (a few in practice); past it the memory starts again."""


def cache_user_agent(client: Any) -> bool:
    """Make ``client`` build its User-Agent once per feature set; whether it could."""
    creator = getattr(client, "_user_agent_creator", None)
    build = getattr(creator, "to_string", None)
    if creator is None or not callable(build):
        return False
    try:
        creator.to_string = _cached(build)  # found before the class's method, by both callers
    except AttributeError:  # a creator that takes no attributes (slots): left as it is
        return False
    return True


def _cached(build: Callable[[], str]) -> Callable[[], str]:
    known: dict[frozenset[str], str] = {}

    def to_string() -> str:
        context = get_context()
        key = frozenset(context.features) if context is not None else frozenset()
        text = known.get(key)
        if text is None:
            if len(known) >= MAX_ENTRIES:
                known.clear()
            text = known[key] = build()
        return text

    return to_string
