"""Run LocalStack's runtime with every listening socket bound to one host (run by its own python).

LocalStack 4.13.1's default gateway server (twisted) ignores the host part of ``GATEWAY_LISTEN``
and listens on ``0.0.0.0`` (``TCP4ServerEndpoint(reactor, port)``, marked "TODO: interface =
host?" in its source). This launcher, run as ``python -P localstack_main.py`` by LocalStack's own
interpreter (it must not import bus: bus is not installed there), makes the reactor's
``listenTCP`` bind ``$BUS_BIND_HOST`` whenever the caller left the interface empty, then hands over
to ``localstack.runtime.main``. Nothing in LocalStack's virtualenv is changed.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

BIND_HOST_VAR = "BUS_BIND_HOST"


def bind_listeners_to(host: str) -> None:
    """Make the twisted reactor's TCP listeners default to ``host`` instead of every interface."""
    reactor: Any = importlib.import_module("twisted.internet.reactor")
    listen_tcp = reactor.listenTCP

    def listen_on_host(port: int, factory: Any, backlog: int = 50, interface: str = "") -> Any:
        return listen_tcp(port, factory, backlog, interface or host)

    reactor.listenTCP = listen_on_host


def main() -> None:
    bind_listeners_to(os.environ.get(BIND_HOST_VAR) or "127.0.0.1")
    runtime: Any = importlib.import_module("localstack.runtime.main")
    runtime.main()


if __name__ == "__main__":
    main()
