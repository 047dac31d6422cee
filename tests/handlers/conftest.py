"""The reference application's tests use the worker tests' helpers and module-scoped clients."""

from tests.worker.conftest import module_aws

__all__ = ["module_aws"]
