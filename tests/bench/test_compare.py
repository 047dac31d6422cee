"""The comparison's pure parts (bench/compare): medians, percentiles, ratios, tables, targets, the
payload, the tally and the job protocol, so that ``make bench`` cannot silently rot. No LocalStack:
the benchmark itself runs only under ``make bench``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.compare import docs, report
from bench.compare.bare import as_bus_sends, batch_shares
from bench.compare.common import Job, Result, Tally, payload, shares, timed
from bench.compare.run import rotate
from bench.compare.stats import Summary, Target, percentile, ratio


def consume(system: str, *rates: float, cpu_us: float = 100.0) -> list[Result]:
    """Results of a consume run: 1,000 messages at each of ``rates`` msg/s."""
    return [Result(system, "consume", 1000, 1000 / rate, cpu_us * 1000 / 1e6) for rate in rates]


# -- stats ---------------------------------------------------------------------------------------


def test_summary_is_median_min_max() -> None:
    assert Summary.of([3.0, 1.0, 2.0]) == Summary(2.0, 1.0, 3.0, 3)
    assert Summary.of([4.0, 1.0, 2.0, 3.0]).median == 2.5


def test_summary_of_nothing_is_an_error() -> None:
    with pytest.raises(ValueError, match="no samples"):
        Summary.of([])


def test_percentile_interpolates_between_ranks() -> None:
    samples = [float(v) for v in range(1, 101)]  # 1..100
    assert percentile(samples, 0) == 1.0
    assert percentile(samples, 100) == 100.0
    assert percentile(samples, 50) == pytest.approx(50.5)
    assert percentile(samples, 99) == pytest.approx(99.01)
    assert percentile([7.0], 99) == 7.0


def test_percentile_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="no samples"):
        percentile([], 50)
    with pytest.raises(ValueError, match=r"0\.\.100"):
        percentile([1.0], 101)


@given(st.lists(st.floats(0, 1e6), min_size=1, max_size=200), st.floats(0, 100))
def test_percentile_lies_within_the_samples(samples: list[float], q: float) -> None:
    assert min(samples) <= percentile(samples, q) <= max(samples)


def test_ratio_and_targets() -> None:
    assert ratio(150.0, 100.0) == 1.5
    assert ratio(1.0, 0.0) is None
    assert ratio(1.0, float("nan")) is None
    assert Target("x", 0.95, 0.97).met is True
    assert Target("x", 3.0, 2.9).met is False
    assert Target("x", 3.0, None).met is None
    assert Target("x", 1.15, 1.10, at_most=True).met is True
    assert Target("x", 1.15, 1.20, at_most=True).met is False


# -- report --------------------------------------------------------------------------------------


def test_throughput_rows_give_spread_and_ratio_to_bare() -> None:
    groups = report.group(
        [*consume("bare", 1000, 1200, 1100), *consume("bus", 1050, 1300, 990, cpu_us=150)]
    )
    rows = report.throughput_rows(groups, report.CONSUME)
    assert rows[0] == [
        "bare aiobotocore loop",
        "1,100 (1,000-1,200)",
        "1.00x",
        "100 (100-100)",
        "1.00x",
    ]
    assert rows[1][:2] == ["bare loop, bus's message", "not measured"]
    assert rows[2] == ["bus worker", "1,050 (990-1,300)", "0.95x", "150 (150-150)", "1.50x"]
    assert rows[3][0] == "Celery (kombu SQS)"
    assert rows[3][1] == "not measured"


def test_missing_rows_say_why() -> None:
    groups = report.group(consume("bare", 1000))
    rows = report.throughput_rows(
        groups, report.CONSUME, {("celery", "consume"): "peers' virtualenv unavailable"}
    )
    assert rows[3][1] == "not measured: peers' virtualenv unavailable"


def test_ratios_are_n_a_without_the_bare_figure() -> None:
    rows = report.throughput_rows(report.group(consume("bus", 1000)), report.CONSUME)
    assert rows[2][2] == "n/a"


def test_latency_rows_use_per_repetition_percentiles() -> None:
    def run(system: str, shift: float, action: str = "latency") -> Result:
        return Result(system, action, 100, 0, 0, latencies_ms=[shift + v for v in range(100)])

    groups = report.group(
        [
            run("bare", 0),
            run("bare", 10),
            run("bare", 20),
            run("bus", 10),
            run("bare", 0, "latency-serial"),
            run("bus", 49.5, "latency-serial"),
        ]
    )
    rows = {row[0]: row for row in report.latency_rows(groups)}
    # p50 of each open-loop bare repetition: 49.5, 59.5, 69.5
    assert rows["bare loop, open loop (fixed rate)"][1] == "59.5 (49.5-69.5)"
    assert rows["bus, open loop (fixed rate)"][1:3] == ["59.5 (59.5-59.5)", "1.00x"]
    # each mode is compared with the bare loop measured the same way
    assert rows["bus, one message at a time"][1:3] == ["99.0 (99.0-99.0)", "2.00x"]


def test_targets_read_the_ratios_of_the_medians() -> None:
    groups = report.group(
        [
            *consume("bare", 1000, 1000, 1000),
            *consume("bus", 960, 970, 980),
            *consume("celery", 300, 300, 300),
            *[Result("bus", "publish", 1000, 1.0, 0.1) for _ in range(3)],
            *[Result("bus", "publish-single", 1000, 4.0, 0.4) for _ in range(3)],
        ]
    )
    found = {t.label: t for t in report.targets(groups)}
    assert found["bus consume / bare loop"].value == pytest.approx(0.97)
    assert found["bus consume / bare loop"].met is True
    assert found["bus consume / Celery"].value == pytest.approx(970 / 300)
    assert found["bus consume / Dramatiq"].met is None  # not measured
    assert found["bus batched publish / one event per call"].value == pytest.approx(4.0)
    assert found["bus batched publish / one event per call"].met is False
    rows = report.target_rows(list(found.values()))
    assert ["bus consume / Dramatiq", ">= 3x", "n/a", "not measured"] in rows
    assert found["each no-op middleware, CPU per message"].met is None  # not measured


def test_cpu_publish_and_middleware_targets() -> None:
    groups = report.group(
        [
            *[Result("bare", "consume", 1000, 1.0, 0.30) for _ in range(3)],
            *[Result("bus", "consume", 1000, 1.0, cpu) for cpu in (0.33, 0.36, 0.40)],
            *[Result("bare", "publish", 1000, 1.0, 0.1) for _ in range(3)],
            *[Result("bus", "publish", 1000, s, 0.1) for s in (1.1, 1.25, 1.4)],
            *[Result("bare", "publish-same", 1000, 1.2, 0.1) for _ in range(3)],
            *[Result("bare", "consume-same", 1000, s, 0.3) for s in (1.02, 1.04, 1.1)],
            *[
                Result("bus", "middleware", 2000, 0.1, 0.1, notes={"per_middleware_us": us})
                for us in (0.3, 0.4, 6.0)
            ],
        ]
    )
    found = {t.label: t for t in report.targets(groups)}
    cpu = found["bus consume CPU per message / bare loop's"]
    assert cpu.value == pytest.approx(1.2)
    assert cpu.met is False
    publish = found["bus batched publish / bare SendMessageBatch loop"]
    assert publish.value == pytest.approx(0.8)
    assert publish.met is False
    same = found["bus batched publish / bare loop sending bus's message"]
    assert same.value == pytest.approx(1.2 / 1.25)
    assert same.met is True
    # bus consumed 1,000 msg/s; the bare loop on bus's messages 1000 / 1.04 (the median)
    consume_same = found["bus consume / bare loop consuming bus's message"]
    assert consume_same.value == pytest.approx(1.04)
    assert consume_same.met is True
    layer = found["each no-op middleware, CPU per message"]
    assert layer.value == pytest.approx(0.4)
    assert layer.met is True
    rows = report.target_rows([cpu, layer])
    assert rows[0][1:] == ["<= 1.15x", "1.20x", "MISSED"]
    assert rows[1][1:] == ["<= 5 us", "0.40 us", "met"]


def test_markdown_table_pads_columns() -> None:
    text = report.markdown(("a", "bb"), [["long cell", "x"], ["y", "z"]])
    lines = text.splitlines()
    assert lines[0] == "| a         | bb |"
    assert lines[1] == "|-----------|----|"
    assert lines[2] == "| long cell | x  |"
    assert len({len(line) for line in lines}) == 1


def test_render_has_every_section() -> None:
    text = report.render(report.group(consume("bare", 1000)))
    for heading in ("Consume", "Publish:", "latency", "Targets"):
        assert heading in text


# -- the generated section of docs/benchmarks.md -------------------------------------------------


def test_replace_block_keeps_the_prose() -> None:
    text = f"intro\n{docs.START}\nold table\n{docs.END}\noutro\n"
    assert docs.replace_block(text, "new table\n") == (
        f"intro\n{docs.START}\nnew table\n{docs.END}\noutro\n"
    )


def test_replace_block_needs_both_markers() -> None:
    with pytest.raises(ValueError, match="markers"):
        docs.replace_block(f"intro\n{docs.START}\n", "x")


def test_the_doc_has_the_markers() -> None:
    text = docs.DOC.read_text()
    assert docs.START in text
    assert docs.END in text


def test_block_names_versions_machine_and_tables() -> None:
    data = {
        "started": "2026-11-23T18:00:00+00:00",
        "seconds": 300,
        "commit": "abc1234",
        "config": {
            "messages": 3000, "payload_bytes": 1024, "concurrency": 8, "repetitions": 3,
            "latency_messages": 500, "latency_rate": 100.0,
        },
        "machine": {"cores": "2", "cpu": "AMD EPYC", "memory": "23.5 GiB", "os": "Linux 6"},
        "versions": {
            "project": {"bus-framework": "0.1.0", "aiobotocore": "3.10.0", "python": "3.11.7"},
            "emulator": {"localstack-core": "4.13.1"},
            "peers": {"celery": "5.7.0", "dramatiq-sqs": "0.4.4"},
        },
        "results": [json.loads(r.line()[len("RESULT ") :]) for r in consume("bare", 1000)],
        "failures": {"dramatiq/consume": "boom"},
    }  # fmt: skip
    text = docs.block(data)
    assert "2 cores (AMD EPYC), 23.5 GiB of memory" in text
    assert "LocalStack (localstack-core) 4.13.1" in text
    assert "celery 5.7.0" in text
    assert "3,000 messages of 1,024 bytes" in text
    assert "not measured: boom" in text
    assert "Load average" not in text  # older records have none
    assert (
        "load average (1 minute) at the start of each repetition: 5.4, 6"
        in docs.block({**data, "load": [5.4, 6.0]}).lower()
    )


# -- what the runners share ----------------------------------------------------------------------


@pytest.mark.parametrize("n", [0, 7, 123_456])
def test_payload_is_about_a_kibibyte_of_json(n: int) -> None:
    data = payload(n)
    assert data["n"] == n
    assert len(json.dumps(data, separators=(",", ":"))) == 1024
    assert len(json.dumps(payload(n, 2048), separators=(",", ":"))) == 2048


@given(st.integers(0, 5000), st.integers(1, 64), st.integers(0, 10))
def test_shares_cut_a_range_into_consecutive_slices(total: int, parts: int, first: int) -> None:
    numbers = range(first, first + total)
    cut = shares(numbers, parts)
    assert [n for part in cut for n in part] == list(numbers)
    sizes = [len(p) for p in cut]
    assert max(sizes) - min(sizes) <= 1


@given(st.integers(2, 5000), st.integers(1, 32))
def test_batch_shares_send_whole_batches(messages: int, parts: int) -> None:
    numbers = timed(messages)
    cut = batch_shares(numbers, parts)
    assert [n for part in cut for n in part] == list(numbers)
    assert all(len(part) % 10 == 0 for part in cut[:-1])


def test_timed_numbers_leave_the_warm_up_message_out() -> None:
    assert timed(5) == range(1, 5)


def test_tally_measures_first_to_last_distinct_message() -> None:
    tally = Tally(3)
    for n in (0, 1, 1, 2, 0):
        tally.hit(n)
    assert tally.done.is_set()
    assert tally.duplicates == 2
    result = tally.result("bus", "consume", received=5)
    assert result.messages == 2  # the window opens at the first message
    assert result.seconds >= 0
    assert result.notes == {"received": 5}


def test_tally_result_before_the_end_is_an_error() -> None:
    tally = Tally(3)
    tally.hit(0)
    with pytest.raises(RuntimeError, match="only 1 of 3"):
        tally.result("bus", "consume")


def test_job_and_result_travel_as_json() -> None:
    job = Job("bus", "consume", 10, 8, "http://127.0.0.1:1", "us-east-1", "q", "http://x/q")
    assert Job.from_json(job.to_json()) == job
    result = Result("bus", "consume", 10, 2.0, 0.5, notes={"left": 0})
    assert Result.parse(f"noise\n{result.line()}\n") == result
    assert result.rate == 5.0
    assert result.cpu_us_per_message == 50_000.0
    with pytest.raises(ValueError, match="no RESULT"):
        Result.parse("nothing here")


def test_rounds_rotate_the_order_of_the_systems() -> None:
    systems = ["bare", "bus", "celery", "dramatiq"]
    assert rotate(systems, 0) == systems
    assert rotate(systems, 1) == ["bus", "celery", "dramatiq", "bare"]
    assert rotate(systems, 5) == rotate(systems, 1)
    assert rotate([], 3) == []


def test_missing_peers_are_reported_not_fatal(monkeypatch: pytest.MonkeyPatch) -> None:
    from bench.compare import peers, run

    def unavailable(log: object) -> None:
        raise peers.PeersUnavailable("`pip install ...` failed:\nNo matching distribution")

    monkeypatch.setattr(peers, "ensure", unavailable)
    python, failures = run._peers(run.Config())
    assert python is None
    assert failures[("celery", "consume")] == (
        "peers' virtualenv unavailable: `pip install ...` failed:"
    )
    assert ("dramatiq", "publish") in failures
    assert ("bus", "consume") not in failures
    assert run._peers(run.Config(systems=("bare", "bus"))) == (None, {})


def test_the_bare_loop_can_send_the_message_bus_sends(tmp_path: Path) -> None:
    """``publish-same``: the same envelope fields in the same order, the same data and the same
    attributes as the Publisher's for the benchmark's event, the same size but for the time's
    digits."""
    from bench.compare import bus_app
    from bus.publish.prepare import EventRoute, FlowContext, channel_of, prepare_routed
    from bus.schema import Registry
    from bus.topology.load import load_topology

    (tmp_path / "topology.yaml").write_text(bus_app.topology_text(8))
    topology = load_topology(tmp_path / "topology.yaml")
    registry = Registry.from_topology(topology, Path(__file__).resolve().parents[2])
    data = payload(7)
    event = bus_app.BenchOrder(**data)
    spec = registry.event_type_of(event)
    route = EventRoute.of(spec, tuple(channel_of(d, topology) for d in spec.destinations))
    bus_sends = prepare_routed(0, route, event, FlowContext())
    bare = as_bus_sends(3, data)
    assert bare["Id"] == "3"
    assert bare["MessageAttributes"] == bus_sends.attributes
    ours, theirs = json.loads(bare["MessageBody"]), json.loads(bus_sends.body)
    assert list(ours) == list(theirs)
    assert ours["data"] == theirs["data"]
    same = ("specversion", "source", "type", "datacontenttype", "eventversion")
    assert {k: ours[k] for k in same} == {k: theirs[k] for k in same}
    assert ours["correlationid"] == ours["id"]
    assert abs(len(bare["MessageBody"]) - bus_sends.body_bytes) <= 3


async def test_the_bare_loop_can_ask_what_the_worker_asks() -> None:
    """``consume-same``: the bare loop's ReceiveMessage asks for the message and system attributes
    the worker's receive (``QueueOps.receive``) asks for."""
    from bench.compare.bare import AS_BUS_ASKS
    from bus.aws.sqs import QueueOps

    asked: dict[str, object] = {}

    class Recording:
        async def receive_message(self, **kwargs: object) -> dict[str, object]:
            asked.update(kwargs)
            return {}

    await QueueOps(Recording(), "url").receive(10, 1)  # type: ignore[arg-type]
    assert {k: asked[k] for k in AS_BUS_ASKS} == AS_BUS_ASKS
