"""The claim check's bucket applied to LocalStack: created encrypted, private, expiring and tagged,
the next plan empty, a changed expiry one update, and ``--prune`` deleting it (objects and all)."""

from __future__ import annotations

from typing import Any

import pytest

from bus.aws import AwsClients, aws_errors
from bus.errors import AwsError
from bus.topology.apply import converge, make_plan
from bus.topology.model import Topology
from bus.topology.plan import Create, Delete, Update

pytestmark = pytest.mark.aws


def topology(claim_check: dict[str, Any] | None) -> Topology:
    data: dict[str, Any] = {"name": "claimed", "queues": {"inbox": {"dead_letter": False}}}
    if claim_check is not None:
        data["claim_check"] = claim_check
    return Topology.model_validate(data)


async def test_the_bucket_is_created_planned_updated_and_pruned(
    aws: AwsClients, bus_env: str
) -> None:
    name = f"{bus_env}-payloads"
    applied = await converge(aws, topology({"bucket": "payloads", "expire_after": "3d"}), bus_env)
    assert [(type(c), c.resource.name) for c in applied.changes if c.resource.kind == "bucket"] == [
        (Create, name)
    ]
    encryption = await aws.s3.get_bucket_encryption(Bucket=name)
    (rule,) = encryption["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    block = (await aws.s3.get_public_access_block(Bucket=name))["PublicAccessBlockConfiguration"]
    assert all(block[k] for k in ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy",
                                  "RestrictPublicBuckets"))  # fmt: skip
    (expiry,) = (await aws.s3.get_bucket_lifecycle_configuration(Bucket=name))["Rules"]
    assert (expiry["ID"], expiry["Status"], expiry["Expiration"]["Days"]) == (
        "bus-claim-check-expiry", "Enabled", 3,
    )  # fmt: skip
    tags = {t["Key"]: t["Value"] for t in (await aws.s3.get_bucket_tagging(Bucket=name))["TagSet"]}
    assert tags == {"bus:topology": "claimed", "bus:env": bus_env, "bus:managed": "true"}

    again = await make_plan(aws, topology({"bucket": "payloads", "expire_after": 3}), bus_env)
    assert again.is_empty, again.lines()

    longer = topology({"bucket": "payloads", "expire_after": "30d"})
    changed = await converge(aws, longer, bus_env)
    assert [(type(c), getattr(c, "attribute", "")) for c in changed.changes] == [
        (Update, "ExpireAfterDays")
    ]
    (expiry,) = (await aws.s3.get_bucket_lifecycle_configuration(Bucket=name))["Rules"]
    assert expiry["Expiration"]["Days"] == 30
    assert (await make_plan(aws, longer, bus_env)).is_empty

    await aws.s3.put_object(Bucket=name, Key="left-behind", Body=b"{}")
    unpruned = await make_plan(aws, topology(None), bus_env)
    assert unpruned.is_empty, unpruned.lines()  # without --prune nothing is deleted
    pruned = await converge(aws, topology(None), bus_env, prune=True)
    assert [(type(c), c.resource.name) for c in pruned.changes] == [(Delete, name)]
    with pytest.raises(AwsError) as gone, aws_errors("HeadBucket"):
        await aws.s3.head_bucket(Bucket=name)
    assert gone.value.code in ("404", "NoSuchBucket", "NotFound")
