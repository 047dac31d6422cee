"""The start-up heap kept out of the interpreter's full collections while a worker runs.

A worker process holds a large, long-lived heap by the time it polls: botocore's service models
and endpoint rules, the handlers' modules, pydantic's schemas (131,000 tracked objects in the
reference application's worker). CPython's full (generation 2) collection walks all of it (77 ms
here for that worker, up to 300 ms in larger processes), a pause of the whole worker each time
enough new objects have survived since the last one. ``freeze()`` collects once, then moves every
survivor into the permanent generation (``gc.freeze``): later collections walk only what the
worker made since.
``thaw()`` gives them back when the worker stops, so a process that goes on (a test session, an
application that ran a worker for a while) collects them again: a cycle that became garbage while
frozen is freed then, not leaked. Workers in one process share one freeze: the last to stop thaws.

Opt-in (``WorkerOptions(freeze_startup=True)``; ``bus worker`` turns it on): in a process that
embeds a worker, objects the application made before the worker started and drops while it runs
are freed by reference counting as always, but a cycle among them waits for the thaw.
"""

from __future__ import annotations

import gc

_holders = 0


def freeze() -> int:
    """Collect the start-up garbage, then keep the survivors out of later collections; return
    how many objects are frozen."""
    global _holders
    gc.collect()
    gc.freeze()
    _holders += 1
    return gc.get_freeze_count()


def thaw() -> None:
    """Undo one ``freeze()``; the last one returns the frozen objects to the oldest generation."""
    global _holders
    if _holders == 0:
        return
    _holders -= 1
    if _holders == 0:
        gc.unfreeze()
