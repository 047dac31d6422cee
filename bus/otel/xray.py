"""X-Ray trace headers (SQS's ``AWSTraceHeader``) as W3C ``traceparent``, and back. Pure.

X-Ray: ``Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1`` (fields in
any order, others such as ``Lineage`` ignored). Its trace id is ``1-<8 hex epoch>-<24 hex>``: the
W3C trace id is the 32 hex digits without the version and dashes (what AWS Distro for
OpenTelemetry does), the parent id is the same 16 hex digits, ``Sampled=1`` is flag ``01``.
"""

from __future__ import annotations

import re

_ROOT = re.compile(r"1-([0-9a-fA-F]{8})-([0-9a-fA-F]{24})")
_PARENT = re.compile(r"[0-9a-fA-F]{16}")


def xray_to_traceparent(header: str) -> str | None:
    """The ``traceparent`` of an X-Ray trace header; ``None`` when it has no usable root and
    parent (a header without ``Parent`` names no span to continue)."""
    fields: dict[str, str] = {}
    for part in header.split(";"):
        key, sep, value = part.strip().partition("=")
        if sep:
            fields[key.strip()] = value.strip()
    root = _ROOT.fullmatch(fields.get("Root", ""))
    parent = fields.get("Parent", "")
    if root is None or not _PARENT.fullmatch(parent):
        return None
    trace_id = (root[1] + root[2]).lower()
    if trace_id == "0" * 32 or parent == "0" * 16:
        return None
    sampled = "01" if fields.get("Sampled") == "1" else "00"
    return f"00-{trace_id}-{parent.lower()}-{sampled}"


def traceparent_to_xray(traceparent: str) -> str:
    """The X-Ray header of a ``traceparent`` (``00-<32 hex>-<16 hex>-<2 hex>``)."""
    _, trace_id, parent, flags = traceparent.split("-")[:4]
    sampled = int(flags, 16) & 1
    return f"Root=1-{trace_id[:8]}-{trace_id[8:]};Parent={parent};Sampled={sampled}"
