"""Event models and handlers of the claim-check tests (``tests.claimcheck.apps:...``).

``record`` keeps, per queue, the key and a digest of the data each call saw, so that a test can
tell that every subscriber got the whole large payload.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from pydantic import BaseModel

from bus.control import Reject
from bus.worker import Context


class Blob(BaseModel):
    key: str
    data: str
    reject: bool = False


class DirectBlob(Blob):
    pass


@dataclass(frozen=True)
class Seen:
    queue: str
    key: str
    size: int
    digest: str


SEEN: list[Seen] = []


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


async def record(event: Blob, ctx: Context) -> None:
    if event.reject:
        raise Reject("rejected on purpose")
    SEEN.append(Seen(ctx.queue, event.key, len(event.data), digest(event.data)))


def seen(key: str) -> dict[str, Seen]:
    return {s.queue: s for s in SEEN if s.key == key}
