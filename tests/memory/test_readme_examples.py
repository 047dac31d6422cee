"""The README's examples of testing with the in-memory AWS ("Testing your handlers" and
"Injecting faults"), run as written."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from bus.memory import open_harness
from schemas.orders import OrderLine, OrderPlaced

ROOT = Path(__file__).resolve().parents[2]


def example(heading: str) -> str:
    """The first Python example after ``heading`` in the README."""
    text = (ROOT / "README.md").read_text()
    section = text.split(f"\n{heading}\n", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match is not None, "the section has no Python example"
    return match.group(1)


@pytest.mark.parametrize("heading", ["## Testing your handlers", "### Injecting faults"])
async def test_the_readme_example_passes(heading: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    namespace: dict[str, Any] = {}
    exec(compile(example(heading), f"README.md ({heading})", "exec"), namespace)
    tests = [v for k, v in namespace.items() if k.startswith("test_")]
    assert len(tests) == 1
    await tests[0]()


async def test_the_readme_middleware_example_counts_and_times_each_delivery(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """ "Extending bus": its ``Metrics`` middleware, given to a worker from Python."""
    monkeypatch.chdir(ROOT)
    namespace: dict[str, Any] = {}
    exec(compile(example("## Extending bus"), "README.md (Extending bus)", "exec"), namespace)
    metrics = namespace["Metrics"](slow_after=0.0)  # every delivery is "slow"
    line = OrderLine(sku="sku-1", quantity=1, unit_price_cents=2_499)
    async with open_harness("topology.yaml") as shop:
        for customer in ("c-1", "declined-7"):
            await shop.publish(OrderPlaced(order_id=f"o-{customer}", customer_id=customer,
                                           lines=[line], total_cents=2_499, country="DE"))  # fmt: skip
        await shop.run_until_idle(middleware=[metrics])
    assert metrics.outcomes == {
        ("billing", "handled"): 1,
        ("billing", "redeliver"): 2,  # the declined card, on its first two receives
        ("billing", "dead-letter"): 1,  # and on its third
        ("shipping", "handled"): 1,
        ("notifications", "handled"): 1,
    }
    slow = [e for e in shop.logs if e["event"] == "slow delivery"]
    assert sorted(e["outcome"] for e in slow) == sorted(
        kind for _, kind in metrics.outcomes.elements()
    )
