from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from bus.imports import ImportPathError, import_object


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    saved = list(sys.path)
    yield tmp_path
    sys.path[:] = saved
    for name in ("shadow_probe_mod",):
        sys.modules.pop(name, None)


def test_the_topology_folder_is_appended_and_cannot_shadow_the_stdlib(folder: Path) -> None:
    (folder / "json.py").write_text("raise RuntimeError('the stdlib was shadowed')\n")
    (folder / "shadow_probe_mod.py").write_text("import json\nDUMPS = json.dumps\n")
    sys.modules.pop("shadow_probe_mod", None)
    found = import_object("shadow_probe_mod:DUMPS", folder)
    assert found is json.dumps
    assert sys.path[-1] == str(folder.resolve())
    assert str(folder.resolve()) not in sys.path[:-1]


def test_missing_module_and_attribute_are_explained(folder: Path) -> None:
    (folder / "shadow_probe_mod.py").write_text("X = 1\n")
    sys.modules.pop("shadow_probe_mod", None)
    assert import_object("shadow_probe_mod:X", folder) == 1
    with pytest.raises(ImportPathError, match="has no attribute 'Y'"):
        import_object("shadow_probe_mod:Y", folder)
    with pytest.raises(ImportError):
        import_object("no_such_module_here:X", folder)
    with pytest.raises(ImportPathError, match=r"not 'package\.module:attribute'"):
        import_object("no_colon", folder)
