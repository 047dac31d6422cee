"""What a process tree actually listens on, read from ``/proc`` (Linux): the emulator is checked by
what is, not by what it was asked.

A socket belongs to a process when one of its ``/proc/<pid>/fd`` links names the socket's inode;
``/proc/<pid>/net/tcp`` and ``tcp6`` list the sockets of that process's network namespace with
their state (``0A`` is LISTEN) and local address.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
_LISTEN = "0A"


@dataclass(frozen=True, order=True)
class Listener:
    """One listening TCP socket: the process holding it, its local address and port."""

    pid: int
    host: str
    port: int

    @property
    def is_loopback(self) -> bool:
        return ipaddress.ip_address(self.host).is_loopback


def available() -> bool:
    """Whether this system exposes sockets per process under ``/proc`` (Linux does)."""
    return (PROC / "self" / "net" / "tcp").exists()


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (children, grandchildren, ...), by each one's parent."""
    parents: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses; split after the last ")".
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(parents.get(current, []))
    return found


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    try:
        fds = list((PROC / str(pid) / "fd").iterdir())
    except OSError:
        return set()
    for fd in fds:
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    return inodes


def _address(hex_address: str) -> str:
    """``/proc/net/tcp*`` addresses: 32-bit words in host (little-endian) byte order."""
    raw = bytes.fromhex(hex_address)
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return str(ipaddress.ip_address(words))


def _listening(pid: int) -> dict[str, tuple[str, int]]:
    """Inode -> (host, port) of the listening TCP sockets in ``pid``'s network namespace."""
    table: dict[str, tuple[str, int]] = {}
    for name in ("tcp", "tcp6"):
        try:
            lines = (PROC / str(pid) / "net" / name).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 10 or fields[3] != _LISTEN:
                continue
            host, port = fields[1].split(":")
            table[fields[9]] = (_address(host), int(port, 16))
    return table


def listeners(pid: int) -> list[Listener]:
    """Every listening TCP socket held by ``pid`` or a process below it."""
    found: set[Listener] = set()
    for each in descendants(pid):
        inodes = _socket_inodes(each)
        if not inodes:
            continue
        for inode, (host, port) in _listening(each).items():
            if inode in inodes:
                found.add(Listener(each, host, port))
    return sorted(found)
