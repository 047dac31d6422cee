"""A problem the semantic checks of a topology found (``bus.topology.check``), at a key path."""

from __future__ import annotations

from dataclasses import dataclass

from bus.topology.patterns import KeyPath


@dataclass(frozen=True)
class Finding:
    """A semantic problem at ``path``. ``depends_on`` lists the other declarations it is about, so
    the loader can drop findings that only follow from a declaration already reported broken."""

    path: KeyPath
    message: str
    depends_on: tuple[KeyPath, ...] = ()
