"""The Lambda tests share the worker tests' helpers (a topology applied to the emulator)."""

from tests.worker.conftest import module_aws

__all__ = ["module_aws"]
