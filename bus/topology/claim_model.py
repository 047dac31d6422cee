"""The ``claim_check`` section of topology.yaml: the S3 bucket that carries large events.

::

    claim_check:
      bucket: shop-payloads        # logical name; the bucket is <env>-shop-payloads
      threshold: 200KiB            # optional: offload anything larger (default: only what is
                                   #   over its destination's limit)
      expire_after: 14d            # lifecycle expiry of the stored payloads (days)
      max_size: 16MiB              # the largest payload bus stores or reads

``bus apply`` creates the bucket encrypted (SSE-S3), with every public access blocked, a lifecycle
rule that expires the payloads and bus's ownership tags. A topology without ``claim_check:`` has no
bucket, and its publishers refuse events over their destination's limit as before; its consumers
still read pointers other producers send (from any bucket they may read).
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bus.aws.limits import KIB, MIB, SQS_MESSAGE_BYTES

BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
"""S3's rule for a bucket name: 3-63 lowercase letters, digits, dots and hyphens, a letter or digit
at each end."""
MAX_PAYLOAD_BYTES = 2 * 1024 * MIB
"""The largest payload the AWS extended clients store (2 GB); bus's ``max_size`` stays below it."""
DEFAULT_MAX_SIZE = 16 * MIB
DEFAULT_EXPIRY_DAYS = 14
_SIZE = re.compile(r"(?P<number>[0-9]+)\s*(?P<unit>B|KiB|MiB)?")
_DAYS = re.compile(r"(?P<days>[0-9]+)\s*d?")
_UNITS = {None: 1, "B": 1, "KiB": KIB, "MiB": MIB}


def parse_size(value: object) -> object:
    """``200KiB``, ``1MiB``, ``4096`` or ``4096B`` as bytes; anything else as given (pydantic then
    says what is wrong)."""
    if isinstance(value, str):
        found = _SIZE.fullmatch(value.strip())
        if found is None:
            raise ValueError(f"{value!r} is not a size such as 200KiB, 1MiB or 4096 (bytes)")
        return int(found["number"]) * _UNITS[found["unit"]]
    return value


class ClaimCheck(BaseModel):
    """The ``claim_check`` section."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    bucket: str = Field(min_length=3, max_length=63)
    """The bucket's logical name (the environment prefix goes before it)."""
    threshold: int | None = Field(default=None, ge=1, le=SQS_MESSAGE_BYTES)
    """Offload every event whose message (body and attributes) is larger, in bytes; ``None``: only
    the events over their destination's limit."""
    expire_after: int = Field(default=DEFAULT_EXPIRY_DAYS, ge=1, le=36_500)
    """Days after which S3 deletes a stored payload (``14d`` or ``14``); consumers never delete."""
    max_size: int = Field(default=DEFAULT_MAX_SIZE, ge=SQS_MESSAGE_BYTES, lt=MAX_PAYLOAD_BYTES)
    """The largest event bus stores, and the largest stored payload a consumer reads (bytes)."""

    @field_validator("bucket")
    @classmethod
    def _bucket_name(cls, name: str) -> str:
        if BUCKET_NAME.fullmatch(name) is None or ".." in name:
            raise ValueError(
                "an S3 bucket name has 3-63 lowercase letters, digits, dots and hyphens, and "
                "starts and ends with a letter or digit"
            )
        return name

    @field_validator("threshold", "max_size", mode="before")
    @classmethod
    def _size(cls, value: object) -> object:
        return parse_size(value)

    @field_validator("expire_after", mode="before")
    @classmethod
    def _days(cls, value: object) -> object:
        if isinstance(value, str):
            found = _DAYS.fullmatch(value.strip())
            if found is None:
                raise ValueError(f"{value!r} is not a number of days such as 14d")
            return int(found["days"])
        return value
