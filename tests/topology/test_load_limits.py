"""Hostile topology files are refused with one FILE:LINE:COL problem, in bounded time and memory."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from bus.topology.document import MAX_ALIAS_VALUES, MAX_DEPTH
from bus.topology.load import MAX_FILE_BYTES, inspect_topology, load_topology

ALIAS_BOMB = f"aliases expand to more than {MAX_ALIAS_VALUES:,} values"


def billion_laughs(levels: int = 9) -> str:
    """The classic: each level is a list of ten aliases of the level before (10**levels values)."""
    lines = ["name: shop", "a0: &a0 [lol,lol,lol,lol,lol,lol,lol,lol,lol,lol]"]
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


def problems_of(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "topology.yaml"
    path.write_text(text)
    topology, problems = inspect_topology(path)
    assert topology is None
    return [str(p).removeprefix(f"{path}:") for p in problems]


@pytest.mark.timeout(20)
def test_billion_laughs_is_refused_at_the_alias_in_bounded_memory(tmp_path: Path) -> None:
    text = billion_laughs()
    assert len(text) < 600
    tracemalloc.start()
    try:
        problems = problems_of(tmp_path, text)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # a1..a3 add 110 + 1,110 + 11,110 values; in a4 (line 6), each *a3 adds 11,111: the 8th
    # passes 100,000, before a single value is expanded
    assert problems == [f"6:{len('a4: &a4 [') + 7 * 4 + 1}: {ALIAS_BOMB} (a YAML alias bomb?); "
                        "write the values out or use fewer aliases"]  # fmt: skip
    assert peak < 64 * 2**20


@pytest.mark.timeout(20)
def test_merge_keys_are_counted_like_aliases(tmp_path: Path) -> None:
    lines = ["name: shop", "m0: &m0 {k: 1}"]
    lines += [f"m{i}: &m{i} {{<<: [{','.join([f'*m{i - 1}'] * 10)}]}}" for i in range(1, 30)]
    problems = problems_of(tmp_path, "\n".join(lines) + "\n")
    assert len(problems) == 1
    assert problems[0].startswith("7:")
    assert ALIAS_BOMB in problems[0]


def test_aliases_within_the_bound_still_work(tmp_path: Path) -> None:
    queues = "".join(
        f"  q{i}:\n    <<: *slow\n    delay_seconds: {i % 10}\n" for i in range(1, 500)
    )
    path = tmp_path / "topology.yaml"
    path.write_text(
        "name: shop\nqueues:\n  q0: &slow {visibility_timeout: 300, delay_seconds: 5}\n" + queues
    )
    topology = load_topology(path)
    assert len(topology.queues) == 500
    assert topology.queues["q499"].visibility_timeout == 300
    assert topology.queues["q499"].delay_seconds == 9


@pytest.mark.parametrize(
    ("value", "column"),
    [
        ("[" * 10_000 + "]" * 10_000, 14 + MAX_DEPTH - 1),
        ("{a: " * 10_000 + "1" + "}" * 10_000, 14 + 4 * (MAX_DEPTH - 2) + 1),
    ],
)
@pytest.mark.timeout(20)
def test_deep_nesting_is_refused_not_a_recursion_error(
    tmp_path: Path, value: str, column: int
) -> None:
    # the top-level mapping is level 1, `description`'s value level 2: the 64th `[` is level 65;
    # a key is a level below its mapping: the key of the 63rd mapping is level 65
    assert problems_of(tmp_path, f"name: shop\ndescription: {value}\n") == [
        f"2:{column}: values nest more than {MAX_DEPTH} levels deep"
    ]


@pytest.mark.timeout(20)
def test_aliases_cannot_nest_deeper_than_written_values(tmp_path: Path) -> None:
    lines = ["name: shop", "a0: &a0 [1]"]
    lines += [f"a{i}: &a{i} [*a{i - 1}]" for i in range(1, 1000)]
    problems = problems_of(tmp_path, "\n".join(lines) + "\n")
    # a61 is 62 nested lists around a scalar (63 levels); a62's list is level 2, so *a61 in it
    # would put that scalar at level 65
    assert problems == [f"64:12: values nest more than {MAX_DEPTH} levels deep once aliases are expanded"]  # fmt: skip


@pytest.mark.timeout(20)
def test_a_file_beyond_the_size_limit_is_refused_unread(tmp_path: Path) -> None:
    text = "name: shop\ndescription: " + "x" * MAX_FILE_BYTES + "\n"
    assert problems_of(tmp_path, text) == [
        "1:1: the topology file is larger than 2 MiB (2,097,152 bytes); "
        "split it or remove what is not topology"
    ]


@pytest.mark.timeout(20)
def test_a_large_scalar_within_the_limit_is_read(tmp_path: Path) -> None:
    path = tmp_path / "topology.yaml"
    path.write_text("name: shop\ndescription: " + "x" * (MAX_FILE_BYTES - 100) + "\n")
    assert len(load_topology(path).description or "") == MAX_FILE_BYTES - 100


@pytest.mark.parametrize(
    "value",
    [
        '!!python/object/apply:os.system ["touch {marker}"]',
        "!!python/name:os.system",
        '!!python/object/new:subprocess.Popen [["touch", "{marker}"]]',
    ],
)
def test_python_tags_construct_nothing(tmp_path: Path, value: str) -> None:
    marker = tmp_path / "ran"
    problems = problems_of(tmp_path, f"name: shop\ndescription: {value.format(marker=marker)}\n")
    assert len(problems) == 1
    assert problems[0].startswith("2:")
    assert not marker.exists()
