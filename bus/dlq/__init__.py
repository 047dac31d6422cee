"""DLQ operations: list, peek, redrive (move task or copy-then-delete), export, replay, purge.

Every operation takes open ``AwsClients``, the queue (a topology name, a physical name or a URL),
and optionally the topology and environment that name it. None deletes a message before it is
handled or safely copied; interrupted at any moment, none loses one.
"""

from bus.aws.backoff import RetryConfig
from bus.dlq.export import ExportReport, export, to_record
from bus.dlq.inspect import Peeked, QueueSummary, list_queues, peek, summarize
from bus.dlq.letter import MAX_RECEIVES, DlqMessage, FailureRecord
from bus.dlq.movetask import (
    MoveTask,
    MoveTaskRun,
    MoveTaskStatus,
    cancel_move_task,
    follow,
    move_task_status,
    start_move_task,
)
from bus.dlq.purge import PurgeReport, purge
from bus.dlq.queues import DeadLetterQueue, QueueRef, Queues
from bus.dlq.redrive import RedriveOptions, RedriveReport, redrive_selected
from bus.dlq.replay import ReplayReport, prepare_replay, replay
from bus.dlq.select import Selection

__all__ = [
    "MAX_RECEIVES",
    "DeadLetterQueue",
    "DlqMessage",
    "ExportReport",
    "FailureRecord",
    "MoveTask",
    "MoveTaskRun",
    "MoveTaskStatus",
    "Peeked",
    "PurgeReport",
    "QueueRef",
    "QueueSummary",
    "Queues",
    "RedriveOptions",
    "RedriveReport",
    "ReplayReport",
    "RetryConfig",
    "Selection",
    "cancel_move_task",
    "export",
    "follow",
    "list_queues",
    "move_task_status",
    "peek",
    "prepare_replay",
    "purge",
    "redrive_selected",
    "replay",
    "start_move_task",
    "summarize",
    "to_record",
]
