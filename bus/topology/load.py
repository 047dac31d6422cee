"""YAML -> Topology. (Minimal first version: the full loader with file:line:col problems replaces it.)"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from bus.errors import Problem, TopologyError
from bus.topology.model import Topology


def load_topology(path: Path) -> Topology:
    """Read and validate ``path``; raise ``TopologyError`` listing every problem."""
    try:
        data = yaml.safe_load(Path(path).read_text())
        return Topology.model_validate(data)
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        raise TopologyError([Problem(str(path), 1, 1, str(exc))]) from exc
