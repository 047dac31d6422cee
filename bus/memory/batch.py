"""The rules every batch call shares (SQS and SNS): 1-10 entries with distinct, well-formed ids.

Batches reuse a few ids ("0" to "9"): once seen well-formed, an id is remembered, and a batch whose
ids are all remembered and distinct is checked by two set operations, not id by id."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from botocore.exceptions import ClientError

from bus.memory.errors import client_error

MAX_ENTRIES = 10
_ID = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
_WELL_FORMED: set[str] = set()
"""Entry ids seen to match ``_ID`` (batches reuse a few: "0" to "9"), up to 4,096 of them."""


def check_batch(
    operation: str, entries: Sequence[Any], prefix: str = "", *, ids: bool = True
) -> None:
    """Raise AWS's error for an empty or too long batch, or ids that repeat or are malformed.

    ``prefix`` is ``"AWS.SimpleQueueService."`` for SQS (its query-compatible codes)."""
    err: Callable[[str, str], ClientError] = lambda code, message: client_error(  # noqa: E731
        operation, prefix + code, message
    )
    if not entries:
        raise err("EmptyBatchRequest", "There should be at least one entry in the request.")
    if len(entries) > MAX_ENTRIES:
        raise err(
            "TooManyEntriesInBatchRequest",
            f"Maximum number of entries per request are {MAX_ENTRIES}. "
            f"You have sent {len(entries)}.",
        )
    if not ids:
        return
    given = [entry.get("Id", "") for entry in entries]
    try:
        if _WELL_FORMED.issuperset(given) and len(set(given)) == len(given):
            return  # every id seen well-formed before, none repeated: nothing to refuse
    except TypeError:
        pass  # an id that cannot be hashed: refused below
    seen: set[str] = set()
    for entry in entries:
        entry_id = entry.get("Id", "")
        if type(entry_id) is not str or entry_id not in _WELL_FORMED:
            entry_id = str(entry_id)
            if not _ID.match(entry_id):
                raise err(
                    "InvalidBatchEntryId",
                    "A batch entry id can only contain alphanumeric characters, hyphens and "
                    "underscores. It can be at most 80 letters long.",
                )
            if len(_WELL_FORMED) < 4096:
                _WELL_FORMED.add(entry_id)
        if entry_id in seen:
            raise err("BatchEntryIdsNotDistinct", f"Id {entry_id} repeated.")
        seen.add(entry_id)


def failure(entry_id: str, error: ClientError) -> dict[str, Any]:
    """A batch answer's ``Failed`` entry for ``error``."""
    info = error.response.get("Error", {})
    return {
        "Id": entry_id,
        "Code": str(info.get("Code", "")),
        "Message": str(info.get("Message", "")),
        "SenderFault": info.get("Type", "Sender") == "Sender",
    }
