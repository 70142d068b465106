"""Benchmarks of polopt against the anchors (QuantEcon, pymdptoolbox, nashpy, SciPy LP)."""

import time

import numpy as np

#: Most calls :func:`best_time` makes to fill ``min_total_s``.
MAX_REPEAT = 200


def best_time(fn, repeat: int, slow_s: float = np.inf, min_total_s: float = 0.0):
    """Best wall time of at least ``repeat`` calls of ``fn`` and its last output.

    Stops repeating once a call takes longer than ``slow_s`` seconds (more repeats would not change
    the verdict); keeps repeating (up to :data:`MAX_REPEAT` calls) until the calls took
    ``min_total_s`` in all: the best of 3 millisecond calls moved by 1.2x between runs on a shared
    2-core machine, the best of ~0.3 s of calls by a few percent.
    """
    best, out, total, n = np.inf, None, 0.0, 0
    while n < repeat or (total < min_total_s and n < MAX_REPEAT):
        t0 = time.perf_counter()
        out = fn()
        dt = time.perf_counter() - t0
        best, total, n = min(best, dt), total + dt, n + 1
        if best > slow_s:
            break
    return best, out


def best_times(fns: dict, repeat: int, slow_s: float = np.inf, min_total_s: float = 0.0):
    """:func:`best_time` of several callables, interleaved: ``{name: (best, last output)}``.

    Each round calls, in turn, every callable that still needs calls, so a slow spell of a shared
    machine (measured: the same sparse LU took 1.3 ms and 3.4 ms a few minutes apart) falls on all
    of them alike and the ratios between them stay meaningful. A callable is called at least
    ``repeat`` times and until its calls took ``min_total_s`` (up to :data:`MAX_REPEAT` calls),
    once only if one call takes longer than ``slow_s``.
    """
    best = {k: np.inf for k in fns}
    total = {k: 0.0 for k in fns}
    calls = {k: 0 for k in fns}
    out: dict = {}

    def wants(k) -> bool:
        if calls[k] and best[k] > slow_s:
            return False
        return calls[k] < repeat or (total[k] < min_total_s and calls[k] < MAX_REPEAT)

    while any(wants(k) for k in fns):
        for name, fn in fns.items():
            if not wants(name):
                continue
            t0 = time.perf_counter()
            out[name] = fn()
            dt = time.perf_counter() - t0
            best[name], total[name], calls[name] = min(best[name], dt), total[name] + dt, calls[name] + 1
    return {k: (best[k], out[k]) for k in fns}
