"""The ``alarms`` section of topology.yaml: CloudWatch alarms bus derives from the topology.

Three kinds, each on by default once the section is present:

- ``dead_letters``: a dead-letter queue holds messages (``ApproximateNumberOfMessagesVisible``);
- ``message_age``: a source queue's oldest message is older than ``threshold`` seconds
  (``ApproximateAgeOfOldestMessage``);
- ``failed_invocations``: an EventBridge rule's target invocations failed permanently
  (``FailedInvocations``).

``defaults`` sets each kind's ``Condition`` (or ``false`` to turn it off everywhere); ``queues`` and
``rules`` override it per queue or rule, field by field. A topology without ``alarms:`` gets none.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

PERIOD_UNIT = 60
"""SQS and EventBridge publish one-minute metrics: alarm periods are whole minutes."""
MAX_ACTIONS = 5
"""CloudWatch's limit on ``AlarmActions`` (and ``OKActions``) per alarm."""

TreatMissingData = Literal["notBreaching", "breaching", "ignore", "missing"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class Condition(_Model):
    """When an alarm fires: the metric above ``threshold`` in ``datapoints_to_alarm`` of the last
    ``evaluation_periods`` periods of ``period`` seconds. Unset fields come from the defaults."""

    threshold: float | None = Field(default=None, ge=0)
    period: int | None = Field(default=None, ge=PERIOD_UNIT, le=86_400)
    evaluation_periods: int | None = Field(default=None, ge=1, le=10_080)
    datapoints_to_alarm: int | None = Field(default=None, ge=1, le=10_080)
    treat_missing_data: TreatMissingData | None = None

    @field_validator("period")
    @classmethod
    def _whole_minutes(cls, period: int | None) -> int | None:
        if period is not None and period % PERIOD_UNIT:
            raise ValueError(f"must be a multiple of {PERIOD_UNIT} seconds (whole minutes)")
        return period

    def over(self, base: Condition) -> Condition:
        """This condition's fields where set, ``base``'s elsewhere."""
        return base.model_copy(update=self.model_dump(exclude_unset=True, exclude_none=True))


Override = Condition | Literal[False] | None
"""``None``: as the defaults say; ``false``: no such alarm here; a condition: these fields differ."""


class AlarmDefaults(_Model):
    dead_letters: Condition | Literal[False] = Field(default_factory=Condition)
    message_age: Condition | Literal[False] = Field(default_factory=Condition)
    failed_invocations: Condition | Literal[False] = Field(default_factory=Condition)


class QueueAlarms(_Model):
    """Overrides for one queue: ``dead_letters`` if it is a dead-letter queue, else ``message_age``."""

    dead_letters: Override = None
    message_age: Override = None


class RuleAlarms(_Model):
    failed_invocations: Override = None


class Alarms(_Model):
    """The ``alarms`` section."""

    actions: list[str] = Field(default_factory=list, max_length=MAX_ACTIONS)
    """SNS topics told when an alarm fires: names declared under ``topics``, or topic ARNs."""
    ok_actions: bool = True
    """Tell the same topics when the alarm returns to OK."""
    defaults: AlarmDefaults = Field(default_factory=AlarmDefaults)
    queues: dict[str, QueueAlarms] = Field(default_factory=dict)
    rules: dict[str, RuleAlarms] = Field(default_factory=dict)
