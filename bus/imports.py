"""``import_object``: the one way bus imports code a topology names (``package.module:attr``).

Handlers, event models, upcasters and sample traffic are imported from the topology file's folder.
That folder is *appended* to ``sys.path``, never put first: a file there named like a module of the
standard library or of an installed package (``json.py``, ``logging.py``) cannot shadow it, for
bus or for anyone else in the process. Modules that are not found elsewhere are found there.
"""

from __future__ import annotations

import importlib
import sys
import traceback
from pathlib import Path


class ImportPathError(LookupError):
    """``package.module:attr`` names a module or attribute that does not exist."""


def add_to_path(base_dir: Path) -> None:
    """Make ``base_dir`` importable, after everything already on ``sys.path``."""
    folder = str(Path(base_dir).resolve())
    if folder not in sys.path:
        sys.path.append(folder)
        importlib.invalidate_caches()


def import_object(path: str, base_dir: Path | None = None) -> object:
    """``package.module:attr.sub`` -> the object, with ``base_dir`` (the topology's folder)
    importable. ``ImportError`` (the module) or ``ImportPathError`` (the attribute) explain what is
    missing; exceptions the module raises while it is imported propagate."""
    if base_dir is not None:
        add_to_path(base_dir)
    module_name, _, attribute = path.partition(":")
    if not module_name or not attribute:
        raise ImportPathError(f"{path!r} is not 'package.module:attribute'")
    found: object = importlib.import_module(module_name)
    for part in attribute.split("."):
        if not hasattr(found, part):
            raise ImportPathError(f"module {module_name} has no attribute {attribute!r}")
        found = getattr(found, part)
    return found


def raised_on_import(exc: BaseException) -> str:
    """What a module raised while it was imported, for a one-line error: ``importing it raised
    RuntimeError: boom (app.py, line 3)``, the line being where it was raised in the
    application's code (a ``SyntaxError`` names its own)."""
    where = ""
    if not isinstance(exc, SyntaxError):
        frames = traceback.extract_tb(exc.__traceback__)
        if frames:
            where = f" ({Path(frames[-1].filename).name}, line {frames[-1].lineno})"
    return f"importing it raised {type(exc).__name__}: {exc}{where}"
