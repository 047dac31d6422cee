"""The reference application's event models (pydantic v2), named in topology.yaml's `events`."""
