"""Ordered, memory-bounded parallel map over files, shared by the dataset preparers."""

import os
from collections import deque
from concurrent.futures import ProcessPoolExecutor


def parallel_map(fn, items, *, workers: int | None = None, ahead: int = 4):
    """Yield fn(item) for each item, in order, computed in `workers` processes.

    At most `ahead` tasks per worker are in flight, so results never pile up in memory when
    the consumer is slower than the workers. workers=1 runs in this process, without a pool.
    `fn` must be a module-level function (it is pickled to the workers).
    """
    workers = workers or _cpu_count()
    if workers == 1:
        yield from map(fn, items)
        return
    pool = ProcessPoolExecutor(max_workers=workers)
    try:
        pending = deque()
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) >= ahead * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        pool.shutdown(cancel_futures=True)


def _cpu_count() -> int:
    if hasattr(os, "sched_getaffinity"):  # the cores this process may run on (Linux)
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1
