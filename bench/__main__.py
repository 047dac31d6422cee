"""``python -m bench`` (``make bench``): the side-by-side comparison (``bench.compare``), then every
other benchmark script in this folder that exists (``publish.py``, ``worker.py``, ``dlq.py``,
``topology.py``, ``emulator.py``, ``memory.py``, ``outbox.py``, ``otel.py``, ``lambda_.py``,
``idempotency.py``, ``claim_check.py``, ``watchdog.py``, ``attributes.py``: ``OTHERS``), each in its own process with
its own defaults. Arguments go to the comparison; with ``--quick`` only the comparison runs (the other scripts have no quick
mode)."""

import subprocess
import sys
from pathlib import Path

from bench.compare.run import main

HERE = Path(__file__).resolve().parent
OTHERS = (
    "publish",
    "worker",
    "dlq",
    "topology",
    "emulator",
    "memory",
    "outbox",
    "otel",
    "idempotency",
    "lambda_",
    "claim_check",
    "watchdog",
    "attributes",
)

args = sys.argv[1:]
status = main(args)
if "--quick" not in args:
    for name in OTHERS:
        if (HERE / f"{name}.py").exists():
            print(f"\n[bench] bench/{name}.py", file=sys.stderr, flush=True)
            code = subprocess.call([sys.executable, "-m", f"bench.{name}"], cwd=HERE.parent)
            status = status or code
sys.exit(status)
