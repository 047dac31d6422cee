"""The ``lambda`` section of topology.yaml: queues consumed by existing Lambda functions.

::

    lambda:
      orders:                        # a queue (logical name)
        function: orders-consumer    # an existing function: its name, or its ARN
        batch_size: 10               # records per invocation (FIFO: at most 10)
        batching_window: 0           # seconds to gather a batch (FIFO: none; > 10 records: >= 1)
        maximum_concurrency: 5       # the mapping's ScalingConfig (2-1000); none: no limit
        function_timeout: 30         # the function's timeout, when known: checked against the
                                     # queue's visibility timeout (AWS: at least six times it)
        enabled: true

bus creates one SQS event source mapping per entry (``bus apply``), always with
``FunctionResponseTypes: [ReportBatchItemFailures]``: the entry point (``bus.handler_for``)
answers with a partial batch response. bus does not create, deploy or configure the function.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

MAX_BATCH = 10_000
"""A standard queue's largest batch."""
MAX_FIFO_BATCH = 10
"""A FIFO queue's largest batch (no batching window)."""
MAX_UNWINDOWED_BATCH = 10
"""Above this, a standard queue's mapping needs a batching window of at least a second."""
MAX_WINDOW = 300
VISIBILITY_FACTOR = 6
"""AWS: a queue's visibility timeout at least six times its function's timeout."""
DEFAULT_RESERVE = 2.0
"""Seconds of Lambda's remaining time under which the entry point starts no record (plus the
queue's handler ``timeout`` when it has one)."""


class LambdaMapping(BaseModel):
    """One queue's event source mapping (the key of ``lambda`` is the queue's logical name)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    function: str = Field(
        min_length=1, max_length=170, pattern=r"^(arn:[a-z-]+:lambda:[^:]+:\d{12}:function:)?"
        r"[A-Za-z0-9_-]{1,64}(:(\$LATEST|[A-Za-z0-9_-]+))?$",
    )  # fmt: skip
    """The function's name (or ARN, or ``name:alias``); it must exist before ``bus apply``."""
    batch_size: int = Field(default=10, ge=1, le=MAX_BATCH)
    batching_window: int = Field(default=0, ge=0, le=MAX_WINDOW)
    """``MaximumBatchingWindowInSeconds``."""
    maximum_concurrency: int | None = Field(default=None, ge=2, le=1000)
    """``ScalingConfig.MaximumConcurrency``: concurrent invocations this mapping may make."""
    function_timeout: int | None = Field(default=None, ge=1, le=900)
    """The function's timeout in seconds, if known (checked, not set: bus does not deploy it)."""
    enabled: bool = True
