"""In-memory STS: the caller's identity."""

from __future__ import annotations

from typing import Any

from bus.memory.errors import ok
from bus.memory.world import World


class MemorySts:
    def __init__(self, world: World) -> None:
        self.world = world

    async def get_caller_identity(self) -> dict[str, Any]:
        account = self.world.account_id
        return ok(
            UserId="AIDAMEMORYBUSTESTUSER",
            Account=account,
            Arn=f"arn:{self.world.partition}:iam::{account}:user/bus-memory",
        )
