"""The claim check's bucket from the topology (pure): its checks, its resource and its picture.

``bucket_resources`` turns ``claim_check`` into one ``bucket`` resource in S3's own terms: default
encryption ``AES256`` (SSE-S3), the four public-access blocks on, a lifecycle rule
(``bus-claim-check-expiry``) that expires every object after ``expire_after`` days, and bus's
ownership tags. ``check_claim_check`` reports what the model alone cannot see (the physical name's
length and form); ``claim_graph`` adds the bucket to ``bus graph``. The AWS side is
``bus.topology.claims_aws``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Literal

from bus.topology.check import Finding
from bus.topology.claim_model import BUCKET_NAME
from bus.topology.model import Topology, physical_name
from bus.topology.resolve import Names, Resource, dumps

ENCRYPTION = "AES256"
"""SSE-S3: S3-managed keys (what S3 applies to new buckets by default since 2023)."""
PUBLIC_ACCESS_BLOCK = dumps(
    {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
)
EXPIRY_RULE = "bus-claim-check-expiry"
"""The id of the lifecycle rule bus writes."""


def bucket_resources(names: Names) -> list[Resource]:
    """The ``bucket`` resource of ``claim_check`` (none without the section)."""
    section = names.topology.claim_check
    if section is None:
        return []
    name = physical_name(section.bucket, names.env)
    attributes = {
        "Encryption": ENCRYPTION,
        "PublicAccessBlock": PUBLIC_ACCESS_BLOCK,
        "ExpireAfterDays": str(section.expire_after),
    }
    arn = f"arn:{names.account.partition}:s3:::{name}"
    return [Resource(kind="bucket", name=name, attributes=attributes, tags=dict(names.tags),
                     ref={"arn": arn, "region": names.account.region})]  # fmt: skip


def check_claim_check(t: Topology, env: str | None) -> Iterator[Finding]:
    """The physical bucket name S3 would refuse (``bus.topology.check`` calls this)."""
    section = t.claim_check
    if section is None:
        return
    name = physical_name(section.bucket, env)
    if BUCKET_NAME.fullmatch(name) is None:
        yield Finding(
            ("claim_check", "bucket"),
            f"bucket name {name!r} (with the environment prefix) is not a valid S3 bucket name: "
            "3-63 lowercase letters, digits, dots and hyphens",
        )
    elif name.startswith("xn--") or name.endswith(("-s3alias", "--ol-s3")):
        yield Finding(("claim_check", "bucket"), f"S3 reserves the form of bucket name {name!r}")


GraphNode = tuple[str, str, str]
GraphEdge = tuple[str, str, str]


def claim_graph(
    topology: Topology,
    env: str | None,
    ids: Callable[[Literal["bucket", "topic", "queue"], str], str],
) -> tuple[list[GraphNode], list[GraphEdge]]:
    """The bucket's node, with a dashed edge from every topic and queue an event that may be
    offloaded is published to (large events to them travel through it)."""
    section = topology.claim_check
    if section is None:
        return [], []
    ident = ids("bucket", section.bucket)
    detail = f"claim check, expires after {section.expire_after} d"
    node = (ident, physical_name(section.bucket, env), detail)
    sources: dict[tuple[Literal["topic", "queue"], str], None] = {}
    for event in topology.events.values():
        if any(d.bus is not None for d in event.publish_to):
            continue  # EventBridge carries no pointer: such events are never offloaded
        for destination in event.publish_to:
            if destination.topic is not None:
                sources[("topic", destination.topic)] = None
            elif destination.queue is not None:
                sources[("queue", destination.queue)] = None
    edges = [(ids(kind, name), ident, "large events") for kind, name in sources]
    return [node], edges
