"""SQS event source mappings from the topology's ``lambda`` section (pure): checks, resources and
their picture. The AWS side is ``bus.topology.mappings_aws``.

A mapping is named ``<physical queue> -> <function>`` (``dev-orders -> orders-consumer``); the
queue and the function are its identity: changing either deletes the old mapping and creates a new
one (with ``--prune``). Its attributes are the mapping's own settings in Lambda's terms, always
with ``FunctionResponseTypes: [ReportBatchItemFailures]``.

Checks (``bus validate``), as AWS documents them: a FIFO queue's batch is at most 10 records and
has no batching window; a standard queue's batch is at most 10,000, and a batch over 10 needs a
batching window of at least one second; the queue's visibility timeout is at least six times the
function's timeout (when ``function_timeout`` is given), so that a batch being retried by Lambda
does not become visible to another invocation while it still runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Literal

from bus.topology.check import Finding
from bus.topology.check_refs import Suggestions
from bus.topology.lambda_model import (
    DEFAULT_RESERVE,
    MAX_FIFO_BATCH,
    MAX_UNWINDOWED_BATCH,
    VISIBILITY_FACTOR,
    LambdaMapping,
)
from bus.topology.model import Topology
from bus.topology.resolve import Names, Resource, dumps

REPORT_FAILURES = dumps(["ReportBatchItemFailures"])


def function_name(function: str) -> str:
    """The function's name in a name, ``name:alias`` or ARN (its qualifier left out)."""
    if function.startswith("arn:"):
        return function.split(":")[6]
    return function.split(":", 1)[0]


def mapping_name(names: Names, queue: str, mapping: LambdaMapping) -> str:
    return f"{names.queue(queue)} -> {mapping.function}"


# -- checks ---------------------------------------------------------------------------------------


def check_mappings(t: Topology, env: str | None) -> Iterator[Finding]:
    """Semantic problems of the ``lambda`` section (``bus.topology.check`` calls this)."""
    queues, hints = t.all_queues(), Suggestions()
    for name, mapping in t.lambda_.items():
        path = ("lambda", name)
        queue = queues.get(name)
        if queue is None:
            hint = hints.hint(name, queues)
            yield Finding(path, f"queue {name!r} is not declared under queues{hint}")
            continue
        if queue.fifo:
            if mapping.batch_size > MAX_FIFO_BATCH:
                yield Finding((*path, "batch_size"), f"{name!r} is a FIFO queue: its batch is "
                              f"at most {MAX_FIFO_BATCH} records, not {mapping.batch_size}")  # fmt: skip
            if mapping.batching_window:
                yield Finding((*path, "batching_window"), f"{name!r} is a FIFO queue: Lambda "
                              "takes no batching window for it")  # fmt: skip
        elif mapping.batch_size > MAX_UNWINDOWED_BATCH and not mapping.batching_window:
            yield Finding((*path, "batching_window"), f"a batch of {mapping.batch_size} "
                          f"(over {MAX_UNWINDOWED_BATCH}) needs a batching_window of at least 1 "
                          "second")  # fmt: skip
        yield from _timeouts(t, name, mapping)


def _timeouts(t: Topology, name: str, mapping: LambdaMapping) -> Iterator[Finding]:
    path, queue, timeout = ("lambda", name), t.all_queues()[name], mapping.function_timeout
    if timeout is None:
        return
    binding = t.handlers.get(name)
    needed = DEFAULT_RESERVE + (binding.timeout or 0) if binding else 0
    if timeout <= needed:
        yield Finding((*path, "function_timeout"), f"the entry point starts a record only with "
                      f"more than {needed:g} s left (2 s, plus the handlers' timeout); a "
                      f"function_timeout of {timeout} s would start none",
                      (("handlers", name),))  # fmt: skip
    if queue.visibility_timeout < VISIBILITY_FACTOR * timeout:
        yield Finding((*path, "function_timeout"), f"queue {name!r} has a visibility_timeout "
                      f"of {queue.visibility_timeout} s; AWS recommends at least "
                      f"{VISIBILITY_FACTOR} x the function's timeout ({timeout} s): "
                      f"{VISIBILITY_FACTOR * timeout} s", (("queues", name),))  # fmt: skip


# -- resources ------------------------------------------------------------------------------------


def mapping_resources(names: Names) -> list[Resource]:
    """The ``mapping`` resources of the topology in ``names``."""
    tags = dict(names.tags)
    return [_resource(names, q, m, tags) for q, m in names.topology.lambda_.items()]


def _resource(names: Names, queue: str, m: LambdaMapping, tags: dict[str, str]) -> Resource:
    attributes = {
        "BatchSize": str(m.batch_size),
        "MaximumBatchingWindowInSeconds": str(m.batching_window),
        "FunctionResponseTypes": REPORT_FAILURES,
        "MaximumConcurrency": str(m.maximum_concurrency or ""),
        "Enabled": "true" if m.enabled else "false",
    }
    ref = {"queue_arn": names.queue_arn(queue), "function": m.function}
    return Resource(kind="mapping", name=mapping_name(names, queue, m), attributes=attributes,
                    tags=tags, ref=ref)  # fmt: skip


# -- graph ----------------------------------------------------------------------------------------

GraphKind = Literal["function", "queue"]


def mapping_graph(
    topology: Topology, ids: Callable[[GraphKind, str], str]
) -> tuple[list[tuple[str, str, str]], list[tuple[str, str, str]]]:
    """A node per function, an edge from each mapped queue to its function."""
    nodes: dict[str, tuple[str, str, str]] = {}
    edges = []
    for queue, m in topology.lambda_.items():
        ident = ids("function", m.function)
        nodes[ident] = (ident, function_name(m.function), "Lambda function")
        edges.append((ids("queue", queue), ident, f"batch {m.batch_size}"))
    return list(nodes.values()), edges
