"""``python -m bench`` (``make bench``): the side-by-side comparison, then every other benchmark
script in this folder that exists (``publish.py``, ``worker.py``, ``dlq.py``), each in its own
process. Arguments go to the comparison (``--quick`` is passed on to the others too)."""

import subprocess
import sys
from pathlib import Path

from bench.compare.run import main

HERE = Path(__file__).resolve().parent
OTHERS = ("publish", "worker", "dlq")

status = main(sys.argv[1:])
extra = ["--quick"] if "--quick" in sys.argv[1:] else []
for name in OTHERS:
    if (HERE / f"{name}.py").exists():
        print(f"\n[bench] bench/{name}.py", file=sys.stderr, flush=True)
        code = subprocess.call([sys.executable, "-m", f"bench.{name}", *extra], cwd=HERE.parent)
        status = status or code
sys.exit(status)
