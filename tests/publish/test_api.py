"""The publishing API is part of bus's public surface."""

from __future__ import annotations

import bus


def test_publishing_names_are_exported() -> None:
    for name in (
        "Publisher",
        "SyncPublisher",
        "PublishResult",
        "Registry",
        "EventSpec",
        "Envelope",
    ):
        assert name in bus.__all__
        assert getattr(bus, name) is not None
