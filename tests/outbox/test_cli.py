"""``bus outbox init|list|retry`` through the real entry point, on a SQLite file (no AWS)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, update
from sqlalchemy.orm import Session

from bus.cli import main
from bus.outbox import Outbox, outbox_table
from bus.settings import Settings
from schemas.orders import OrderPlaced

ROOT = Path(__file__).resolve().parents[2]


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    code = exit_info.value.code
    captured = capsys.readouterr()
    return (code if isinstance(code, int) else 1 if code else 0), captured.out, captured.err


def test_init_list_retry(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    assert run(["outbox", "init", "-d", url], capsys)[:2] == (0, "outbox tables ready\n")
    assert run(["outbox", "init", "-d", url], capsys)[0] == 0  # again: nothing to do

    outbox = Outbox.load(Settings(topology_path=ROOT / "topology.yaml"))
    engine = create_engine(url)
    with Session(engine) as session, session.begin():
        ids = [
            outbox.add(
                session,
                OrderPlaced(order_id=f"o-{n}", customer_id="c", total_cents=n, country="DE"),
            )
            for n in range(3)
        ]
    with engine.begin() as conn:  # two rows failed for good
        conn.execute(
            update(outbox_table)
            .where(outbox_table.c.event_id.in_(ids[:2]))
            .values(state="parked", attempts=10, error="after 10 attempts: topic:orders failed")
        )

    code, out, _ = run(["outbox", "list", "-d", url], capsys)
    assert code == 0
    lines = out.splitlines()
    assert (
        lines[0]
        == f"1 parked OrderPlaced {ids[0]} attempts=10: after 10 attempts: topic:orders failed"
    )
    assert lines[1].startswith(f"2 parked OrderPlaced {ids[1]}")
    assert lines[-1] == "1 pending, 0 sent, 2 parked"

    assert run(["outbox", "retry", "-d", url, "2"], capsys)[1] == "1 row pending again\n"
    assert run(["outbox", "retry", "-d", url, "--all"], capsys)[1] == "1 row pending again\n"
    code, _, err = run(["outbox", "retry", "-d", url], capsys)
    assert code == 2
    assert "give row ids or --all" in err
    with engine.connect() as conn:
        states = conn.execute(select(outbox_table.c.state, outbox_table.c.error)).all()
    engine.dispose()
    assert states == [("pending", None)] * 3


def test_print_ddl_needs_no_database(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        ["outbox", "init", "--print-ddl", "-d", "postgresql://app@nowhere/shop"], capsys
    )
    assert code == 0
    assert out.startswith("CREATE TABLE bus_outbox (\n")
    assert "EXECUTE FUNCTION bus_outbox_notify();" in out


def test_without_sqlalchemy_the_command_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "sqlalchemy", None)
    code, _, err = run(["outbox", "list", "-d", "sqlite:///x.db"], capsys)
    assert code == 3
    assert "pip install 'bus-framework[sqlalchemy]'" in err


def test_a_database_out_of_reach_is_one_line_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "no" / "such" / "app.db"
    code, _, err = run(["outbox", "list", "-d", f"sqlite:///{missing}"], capsys)
    assert code == 3
    assert err == (
        f"error: database sqlite+aiosqlite:///{missing}: the folder {missing.parent} does not "
        "exist\n"
    )
    # nothing listens on that socket: refused at once; the password is not shown
    url = f"postgresql://u:secret@/db?host={tmp_path}&port=5999"
    for command in ("list", "init"):
        code, _, err = run(["outbox", command, "-d", url], capsys)
        assert code == 1
        assert err.startswith("error: database postgresql"), err
        assert "://u:***@/db?" in err
        assert "secret" not in err
        assert err.count("\n") == 1


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_a_database_without_the_outbox_table_points_at_init(
    database: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
) -> None:
    if database == "sqlite":
        url, words = f"sqlite:///{tmp_path / 'fresh.db'}", "no such table: bus_outbox"
    else:  # a new empty database on the throwaway server
        url, words = request.getfixturevalue("postgres_url"), 'relation "bus_outbox" does not exist'
    for command in (["list"], ["retry", "--all"]):
        code, _, err = run(["outbox", *command, "-d", url], capsys)
        assert code == 1
        assert words in err
        assert err.endswith(" (create it: bus outbox init)\n"), err
    code, _, err = run(["outbox", "init", "-d", url], capsys)
    assert code == 0, err
    code, _, err = run(["outbox", "list", "-d", url], capsys)
    assert code == 0, err
