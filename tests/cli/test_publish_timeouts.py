"""``bus publish`` against an endpoint that accepts connections and never answers: it fails with
exit 4 and the usual error lines within its bound (2 attempts of 4 s a call), not after 155 s."""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import structlog

from bus.cli import main
from bus.settings import CLI_MAX_ATTEMPTS

ROOT = Path(__file__).parents[2]
ORDER = {"order_id": "o-1", "customer_id": "c-1", "total_cents": 100, "country": "DE"}


@dataclass
class HungEndpoint:
    """A TCP server on 127.0.0.1 that accepts every connection and never sends a byte."""

    server: socket.socket = field(default_factory=socket.socket)
    accepted: list[socket.socket] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.getsockname()[1]}"

    def serve(self) -> None:
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:  # closed: the test is over
                return
            self.accepted.append(connection)


@pytest.fixture
def hung(monkeypatch: pytest.MonkeyPatch) -> Iterator[HungEndpoint]:
    endpoint = HungEndpoint()
    endpoint.server.bind(("127.0.0.1", 0))
    endpoint.server.listen(16)
    thread = threading.Thread(target=endpoint.serve, daemon=True)
    thread.start()
    for name, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": "eu-west-1",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "BUS_READ_TIMEOUT", "BUS_CONNECT_TIMEOUT", "BUS_MAX_ATTEMPTS"):
        monkeypatch.delenv(name, raising=False)
    yield endpoint
    endpoint.server.shutdown(socket.SHUT_RDWR)  # wakes the accept() under way
    endpoint.server.close()
    thread.join(5)
    for connection in endpoint.accepted:
        connection.close()


def publish(hung: HungEndpoint, *options: str) -> int:
    argv = ["publish", "OrderPlaced", "-d", json.dumps(ORDER), "-t", str(ROOT / "topology.yaml")]
    try:
        with pytest.raises(SystemExit) as exit_info:
            main([*argv, "--endpoint-url", hung.url, *options])
    finally:
        structlog.reset_defaults()  # the CLI configured logging onto capsys's streams
    code = exit_info.value.code
    return code if isinstance(code, int) else 1


def expected_error(url: str) -> str:
    """What ``bus publish`` printed before it had a bound, after 155 s: two calls failed (the
    topic's ARN needs the account, from STS; PutEvents to the bus), one line each, then one error."""
    unreachable = f'cannot reach AWS: Read timeout on endpoint URL: "{url}/"'
    return (
        f"EVENT topic:orders failed: ConnectionError: GetCallerIdentity: {unreachable}\n"
        f"EVENT bus:shop-events failed: ConnectionError: PutEvents: {unreachable}\n"
        "error: 1 of 1 event not fully published (0 deliveries succeeded); "
        "first AWS error code: ConnectionError\n"
    )


def printed_error(text: str) -> str:
    return re.sub(r"^[0-9a-f-]{36} ", "EVENT ", text, flags=re.MULTILINE)


@pytest.mark.timeout(90)  # 155 s and more before the CLI had its own bound; now under 20 s
def test_publish_fails_with_exit_4_within_its_bound(
    hung: HungEndpoint, capsys: pytest.CaptureFixture[str]
) -> None:
    assert publish(hung) == 4
    captured = capsys.readouterr()
    assert captured.out == ""
    assert printed_error(captured.err) == expected_error(hung.url)
    assert len(hung.accepted) == 2 * CLI_MAX_ATTEMPTS  # a connection per attempt of each call


@pytest.mark.timeout(30)
def test_the_options_set_the_attempts_and_timeouts(
    hung: HungEndpoint, capsys: pytest.CaptureFixture[str]
) -> None:
    code = publish(hung, "--max-attempts", "1", "--read-timeout", "0.5", "--connect-timeout", "1")
    assert code == 4
    assert printed_error(capsys.readouterr().err) == expected_error(hung.url)
    assert len(hung.accepted) == 2


def test_the_timeouts_are_validated(hung: HungEndpoint) -> None:
    assert publish(hung, "--read-timeout", "0") == 2  # typer's usage error
    assert hung.accepted == []
