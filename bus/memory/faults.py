"""Fault injection and a call journal for the in-memory AWS: ``MemoryAws.faults``.

Every call bus makes on a ``MemoryAws`` client crosses one point, ``Faults.call``, while a rule,
hook or journal is set; with none set the clients' operations are the services' own methods, so
faults cost nothing then (a method looked up and kept before the first rule was set bypasses the
rules: look it up on the client at each call, as bus does). What a test
can ask for::

    aws.faults.fail("ReceiveMessage", "ThrottlingException")          # the next receive throttles
    aws.faults.fail_entry("DeleteMessageBatch", "InternalError",       # this message's next delete
                          message_id=m, sender_fault=False)            # entry fails, the rest not
    aws.faults.hook("SendMessageBatch", "before", pause)               # awaited before it acts
    calls = aws.faults.record()                                        # every call from now on

Operations are named as AWS names them (``ReceiveMessage``, ``PublishBatch``), the name botocore
puts in its ``ClientError``. ``fail`` raises the ``ClientError`` botocore would raise for the
code; ``fail_entry`` and ``fail_entries`` take entries out of a batch call (SQS's
``SendMessageBatch``, ``DeleteMessageBatch``, ``ChangeMessageVisibilityBatch``, SNS's
``PublishBatch``) and answer them in ``Failed`` as AWS does, the other entries going through. A hook
is awaited with the ``Call`` at phase ``"before"`` (nothing done yet) or ``"after"`` (done:
``call.response`` or ``call.error`` is set; the answer not yet handed back): it can wait for the
test, or raise as a lost answer would. Only the calls made on the clients count: SNS's and
EventBridge's deliveries into queues happen inside the in-memory AWS, as they do inside AWS.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from bus.memory.errors import client_error, ok

Phase = Literal["before", "after"]
Entry = dict[str, Any]
Failure = dict[str, Any]
"""A batch answer's failed entry without its ``Id``: ``{"Code", "SenderFault", "Message"}``."""

BATCHES = {
    "SendMessageBatch": "Entries",
    "DeleteMessageBatch": "Entries",
    "ChangeMessageVisibilityBatch": "Entries",
    "PublishBatch": "PublishBatchRequestEntries",
}
"""The batch operations whose entries can fail one by one, and the request field holding them."""
_SERVER_CODES = {"InternalError": 500, "InternalFailure": 500, "ServiceUnavailable": 503}


@dataclass
class Call:
    """One call on an in-memory client: what was asked and, once it finished, what came of it."""

    service: str
    operation: str
    request: dict[str, Any]
    queue: str | None = None
    """The queue's name, for SQS calls on a queue."""
    response: dict[str, Any] | None = None
    error: BaseException | None = None
    message_ids: tuple[str, ...] = ()
    """Messages the call sent, received, deleted or changed (failed entries not included)."""
    failed_ids: tuple[str, ...] = ()
    """Messages of the batch entries that failed (deletes and visibility changes)."""


@dataclass(frozen=True)
class BatchEntry:
    """One entry of a batch call, as a ``fail_entries`` rule sees it."""

    call: Call
    entry: Entry
    message_id: str | None
    """The message a delete or visibility change is for (from its receipt handle)."""


@dataclass(eq=False)
class Rule:
    """A rule in force: ``times`` left (``None``: until removed) and how often it applied."""

    operation: str | None
    queue: str | None
    times: int | None
    act: Any
    phase: Phase | None = None
    hits: int = 0
    owner: Faults | None = field(default=None, repr=False)

    def applies(self, call: Call) -> bool:
        return (
            (self.times is None or self.times > 0)
            and self.operation in (None, call.operation)
            and self.queue in (None, call.queue)
        )

    def used(self) -> None:
        self.hits += 1
        if self.times is not None:
            self.times -= 1
            if self.times <= 0:
                self.remove()  # used up: with nothing else set, calls go straight through again

    def remove(self) -> None:
        if self.owner is not None:
            self.owner.remove(self)


Hook = Callable[[Call], Awaitable[None]]
EntryRule = Callable[[BatchEntry], Failure | None]


def entry_failure(code: str, *, sender_fault: bool = True, message: str = "") -> Failure:
    """What AWS answers for a failed batch entry (without the entry's ``Id``)."""
    return {"Code": code, "SenderFault": sender_fault, "Message": message or code}


class Faults:
    """The rules, hooks and journals of one in-memory AWS (``MemoryAws.faults``)."""

    def __init__(self, message_id_of: Callable[[str], str | None] = lambda receipt: None) -> None:
        self._armed = False
        self._watchers: list[Callable[[bool], None]] = []
        self._message_id_of = message_id_of
        self._fails: list[Rule] = []
        self._entries: list[Rule] = []
        self._hooks: list[Rule] = []
        self._journals: list[list[Call]] = []

    @property
    def armed(self) -> bool:
        """Whether any rule, hook or journal is set: calls cross ``call`` only while it is."""
        return self._armed

    @armed.setter
    def armed(self, armed: bool) -> None:
        if armed != self._armed:
            self._armed = armed
            for watcher in self._watchers:
                watcher(armed)

    def watch(self, watcher: Callable[[bool], None]) -> None:
        """Call ``watcher(armed)`` whenever ``armed`` changes (the clients rebind their calls)."""
        self._watchers.append(watcher)

    # -- what a test sets -------------------------------------------------------------------------

    def fail(
        self, operation: str, error: str | BaseException, *, times: int | None = 1,
        queue: str | None = None, message: str = "", sender_fault: bool | None = None,
    ) -> Rule:  # fmt: skip
        """The next ``times`` calls of ``operation`` (on ``queue``, if given) raise ``error``: the
        ``ClientError`` botocore raises for that code (a server error for ``InternalError`` and
        ``ServiceUnavailable``), or the exception given."""
        if isinstance(error, str):
            status = _SERVER_CODES.get(error, 400)
            fault = status < 500 if sender_fault is None else sender_fault
            made: Any = (error, message or error, status, fault)
        else:
            made = error
        return self._add(self._fails, Rule(operation, queue, times, made))

    def fail_entry(
        self, operation: str, code: str, *, message_id: str | None = None,
        entry_id: str | None = None, sender_fault: bool = True, times: int | None = 1,
        queue: str | None = None, message: str = "",
    ) -> Rule:  # fmt: skip
        """The next ``times`` entries of ``operation`` (for ``message_id``, or with ``entry_id``, if
        given) fail with ``code`` in the batch's answer; the other entries go through."""
        failure = entry_failure(code, sender_fault=sender_fault, message=message)

        def decide(entry: BatchEntry) -> Failure | None:
            if message_id is not None and entry.message_id != message_id:
                return None
            if entry_id is not None and entry.entry.get("Id") != entry_id:
                return None
            return failure

        return self.fail_entries(operation, decide, times=times, queue=queue)

    def fail_entries(
        self, operation: str, decide: EntryRule, *, times: int | None = None,
        queue: str | None = None,
    ) -> Rule:  # fmt: skip
        """``decide`` sees each entry of ``operation``'s calls and returns its failure (see
        ``entry_failure``) or ``None``; ``times`` counts the entries it failed."""
        if operation not in BATCHES:
            raise ValueError(f"{operation} has no entries that fail one by one: {sorted(BATCHES)}")
        return self._add(self._entries, Rule(operation, queue, times, decide))

    def hook(
        self, operation: str | None, phase: Phase, hook: Hook, *, times: int | None = None,
        queue: str | None = None,
    ) -> Rule:  # fmt: skip
        """Await ``hook(call)`` in ``phase`` of every call of ``operation`` (``None``: of any)."""
        if phase not in ("before", "after"):
            raise ValueError(f"phase is 'before' or 'after', not {phase!r}")
        return self._add(self._hooks, Rule(operation, queue, times, hook, phase))

    def record(self) -> list[Call]:
        """A list that gets every call from now on, in the order they began."""
        journal: list[Call] = []
        self._journals.append(journal)
        self.armed = True
        return journal

    def remove(self, rule: Rule) -> None:
        for rules in (self._fails, self._entries, self._hooks):
            if rule in rules:
                rules.remove(rule)
        self._rearm()

    def clear(self) -> None:
        """Remove every rule and hook, and stop every journal."""
        self._fails, self._entries, self._hooks, self._journals = [], [], [], []
        self.armed = False

    def _add(self, rules: list[Rule], rule: Rule) -> Rule:
        rule.owner = self
        rules.append(rule)
        self.armed = True
        return rule

    def _rearm(self) -> None:
        self.armed = bool(self._fails or self._entries or self._hooks or self._journals)

    # -- the one consult point --------------------------------------------------------------------

    async def call(
        self, service: str, operation: str, method: Callable[..., Awaitable[dict[str, Any]]],
        request: dict[str, Any],
    ) -> dict[str, Any]:  # fmt: skip
        """Make ``operation`` through the rules: journal it, await the hooks, raise or fail entries
        as asked, then call ``method`` with what is left."""
        url = request.get("QueueUrl")
        queue = str(url).rstrip("/").rsplit("/", 1)[-1] if service == "sqs" and url else None
        call = Call(service, operation, dict(request), queue)
        for journal in self._journals:
            journal.append(call)
        try:
            await self._run_hooks(call, "before")
            self._raise_if_asked(call)
            call.response = await self._answer(call, method, request)
        except BaseException as exc:
            call.error = exc
            if isinstance(exc, Exception):
                await self._run_hooks(call, "after")
            raise
        self._describe(call)
        await self._run_hooks(call, "after")
        return call.response

    async def _run_hooks(self, call: Call, phase: Phase) -> None:
        for rule in list(self._hooks):
            if rule.phase == phase and rule.applies(call):
                rule.used()
                await rule.act(call)

    def _raise_if_asked(self, call: Call) -> None:
        for rule in self._fails:
            if rule.applies(call):
                rule.used()
                if isinstance(rule.act, BaseException):
                    raise rule.act
                code, message, status, fault = rule.act
                raise client_error(call.operation, code, message, status=status,
                                   sender_fault=fault)  # fmt: skip

    async def _answer(
        self, call: Call, method: Callable[..., Awaitable[dict[str, Any]]], request: dict[str, Any]
    ) -> dict[str, Any]:
        field_name = BATCHES.get(call.operation)
        rules = [r for r in self._entries if r.applies(call)] if field_name else []
        if not rules or field_name is None:
            return await method(**request)
        kept: list[Entry] = []
        failed: list[dict[str, Any]] = []
        for entry in request.get(field_name) or []:
            failure = self._entry_failure(call, entry, rules)
            if failure is None:
                kept.append(entry)
            else:
                failed.append({"Id": entry["Id"], **failure})
        if not failed:
            return await method(**request)
        answer: dict[str, Any] = (
            await method(**{**request, field_name: kept}) if kept else ok(Successful=[], Failed=[])
        )
        return {**answer, "Failed": [*answer.get("Failed", []), *failed]}

    def _entry_failure(self, call: Call, entry: Entry, rules: list[Rule]) -> Failure | None:
        receipt = entry.get("ReceiptHandle")
        seen = BatchEntry(call, entry, self._message_id_of(receipt) if receipt else None)
        for rule in rules:
            if rule.applies(call):
                failure = rule.act(seen)
                if failure is not None:
                    rule.used()
                    return dict(failure)
        return None

    def _describe(self, call: Call) -> None:
        """Fill ``call.message_ids`` and ``failed_ids`` from the request and the answer."""
        answer, request = call.response or {}, call.request
        if "MessageId" in answer:
            call.message_ids = (answer["MessageId"],)
        elif "Messages" in answer:
            call.message_ids = tuple(m["MessageId"] for m in answer["Messages"])
        elif "ReceiptHandle" in request:
            call.message_ids = self._ids([request["ReceiptHandle"]])
        elif "Successful" in answer:
            done = {e["Id"]: e for e in answer["Successful"]}
            refused = {e["Id"] for e in answer.get("Failed", [])}
            entries = request.get(BATCHES.get(call.operation, "Entries")) or []
            if all("MessageId" in e for e in done.values()) and done:
                call.message_ids = tuple(e["MessageId"] for e in answer["Successful"])
            else:
                call.message_ids = self._ids(
                    [
                        e["ReceiptHandle"]
                        for e in entries
                        if e["Id"] in done and "ReceiptHandle" in e
                    ]
                )
            call.failed_ids = self._ids(
                [e["ReceiptHandle"] for e in entries if e["Id"] in refused and "ReceiptHandle" in e]
            )

    def _ids(self, receipts: list[str]) -> tuple[str, ...]:
        return tuple(i for i in map(self._message_id_of, receipts) if i is not None)
