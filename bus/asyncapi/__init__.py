"""An AsyncAPI 3.1 document of the whole topology (``bus docs``).

``routes`` works out which messages travel where; ``channels`` makes the channels and operations,
``bindings`` the servers, ARN addresses and SNS/SQS bindings, ``rules`` the EventBridge rules in
words, ``messages`` the message shapes and component schemas; ``document`` puts them together.
"""

from __future__ import annotations

from bus.asyncapi.document import ASYNCAPI_VERSION, asyncapi_document, render, rule_lines

__all__ = ["ASYNCAPI_VERSION", "asyncapi_document", "render", "rule_lines"]
