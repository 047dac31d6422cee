"""The worker's clock under the harness's virtual time: a handler that runs longer than its queue's
visibility timeout is kept invisible by the heartbeat, in virtual seconds, and runs once."""

from __future__ import annotations

import uuid
from pathlib import Path

from bus.memory import open_harness
from tests.worker import apps
from tests.worker.apps import Ping

ROOT = Path(__file__).resolve().parents[2]

TOPOLOGY = """
name: vheart
queues:
  inbox: {visibility_timeout: 10, dead_letter: {max_receive_count: 3}}
events:
  Ping: {model: tests.worker.apps:Ping, publish_to: [{queue: inbox}]}
handlers:
  inbox:
    events: {Ping: "tests.worker.apps:record"}
"""


async def test_a_handler_longer_than_the_visibility_timeout_runs_once(tmp_path: Path) -> None:
    path = tmp_path / "topology.yaml"
    path.write_text(TOPOLOGY)
    key = f"slow-{uuid.uuid4().hex[:8]}"
    async with open_harness(path, base_dir=ROOT) as harness:
        await harness.publish(Ping(key=key, behaviour="slow:95"))
        stats = await harness.run_until_idle(max_time=600)
        assert harness.clock.elapsed >= 95  # the handler's sleep passed in virtual time
        assert harness.dead_letters("inbox") == []
    calls = apps.calls(key)
    assert [c.attempt for c in calls] == [1]  # not received again when the 10 s ran out
    assert stats.queue("inbox").processed == 1
