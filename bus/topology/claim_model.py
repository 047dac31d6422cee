"""The ``claim_check`` section of topology.yaml: the S3 bucket that carries large events.

::

    claim_check:
      bucket: shop-payloads        # logical name; the bucket is <env>-shop-payloads
      threshold: 200KiB            # optional: offload anything larger (default: only what is
                                   #   over its destination's limit)
      expire_after: 14d            # lifecycle expiry of the stored payloads (days)
      max_size: 16MiB              # the largest payload bus stores or reads
      read_from: [partner-payloads]  # optional: the other buckets consumers follow pointers
                                   #   into (physical names); `any` (the default) or a list

``bus apply`` creates the bucket encrypted (SSE-S3), with every public access blocked, a lifecycle
rule that expires the payloads and bus's ownership tags.

``read_from`` guards consumers against a confused deputy: a pointer is a message naming an S3
object, and anyone who may send to a queue may name any object the consumer's role can read. The
own bucket (``<env>-<bucket>``) is always allowed; ``read_from`` lists the others by the names S3
knows them by (another producer's bucket has no environment prefix), and a pointer into any other
bucket is refused without an S3 call (reason ``claim-check-refused``). ``read_from: []``: the own
bucket only. ``read_from: any``, the default, follows pointers into any bucket, as the AWS extended
clients do.

A topology without ``claim_check:`` has no bucket, and its publishers refuse events over their
destination's limit as before; its consumers still read pointers other producers send, from any
bucket they may read (as ``read_from: any``): declare the section to restrict them.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_serializer,
    field_validator,
)

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
ANY = "any"
"""``read_from``'s word for every bucket (the model holds ``None``)."""


def check_bucket_name(name: str) -> str:
    """``name`` when S3 accepts it as a bucket name; ``ValueError`` saying the rule otherwise."""
    if BUCKET_NAME.fullmatch(name) is None or ".." in name:
        raise ValueError(
            "an S3 bucket name has 3-63 lowercase letters, digits, dots and hyphens, and "
            "starts and ends with a letter or digit"
        )
    return name


def _read_from_bucket(name: str) -> str:
    if name == ANY:
        raise ValueError(f"write `read_from: {ANY}` (not in a list) to allow every bucket")
    return check_bucket_name(name)


BucketName = Annotated[str, AfterValidator(_read_from_bucket)]


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
    read_from: list[BucketName] | None = None
    """The buckets besides the own one that consumers follow pointers into (physical names);
    ``None`` (``any`` in topology.yaml, the default): every bucket."""

    @field_validator("bucket")
    @classmethod
    def _bucket_name(cls, name: str) -> str:
        return check_bucket_name(name)

    @field_validator("read_from", mode="before")
    @classmethod
    def _any(cls, value: object) -> object:
        if value == ANY:
            return None
        if value is None or isinstance(value, str):
            got = "null" if value is None else repr(value)
            raise ValueError(f"must be {ANY} or a list of S3 bucket names, got {got}")
        return value

    @field_validator("read_from")
    @classmethod
    def _once_each(cls, names: list[str] | None) -> list[str] | None:
        twice = sorted({n for n in names if names.count(n) > 1}) if names else []
        if twice:
            raise ValueError(f"{', '.join(repr(n) for n in twice)} listed more than once")
        return names

    @field_serializer("read_from")
    def _dump_any(self, names: list[str] | None) -> list[str] | str:
        """``any`` for ``None``, so that a dump loads back (``read_from: null`` is refused)."""
        return ANY if names is None else names

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
