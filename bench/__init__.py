"""Benchmarks of polopt against the anchors (QuantEcon, pymdptoolbox, nashpy, SciPy LP)."""

import time

import numpy as np


def best_time(fn, repeat: int, slow_s: float = np.inf):
    """Best wall time of ``repeat`` calls of ``fn`` and its last output; stops repeating once a
    call takes longer than ``slow_s`` seconds (more repeats would not change the verdict)."""
    best, out = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
        if best > slow_s:
            break
    return best, out
