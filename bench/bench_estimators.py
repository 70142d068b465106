"""Sampled policy-gradient estimates per second on a softmax bandit with K = 100 arms, G = 8.

Usage::

    python -m bench.bench_estimators [--quick] [--out FILE.json] [--repeat N] [--busy N]

One *estimate* is one group of G = 8 arms drawn from the policy (Vose alias method, uniforms
from a seeded NumPy Generator, included in the time) turned into one gradient estimate
``(1/G) sum_i A_i (e_{a_i} - pi)``. Three ways are timed for every estimator:

* ``numba_mean``: the fused numba kernel accumulating the mean of N estimates (and their squared
  norms, for the SNR step) in O(G) per group — what ``po.solve`` uses; the target is 10^6/s;
* ``numba_dense``: the same kernel writing all N dense rows [N, K] (bounded by memory
  bandwidth: 800 bytes per estimate);
* ``numpy``: the vectorized NumPy reference (one-hot [N, G, K] temporaries), at N / 10.

Times are the best of ``--repeat`` runs after a warm-up call (numba compiled outside the
timings); ``cpu_s`` is the process CPU time of the best run (the machine is shared: wall
times are noisy, CPU time shows the per-core cost). The JSON holds per estimator
``{way: {N, wall_s, cpu_s, estimates_per_s, estimates_per_cpu_s}}``, the ratio numba_mean /
numpy, and machine information.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

from bench._common import add_busy_argument, busy, summary_row, write_json

K, G = 100, 8
TARGET_PER_S = 1e6


def _timed(fn, repeat):
    best = (np.inf, np.inf)
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        best = min(best, (time.perf_counter() - t0, time.process_time() - c0))
    return best


def run(quick: bool, repeat: int) -> dict:
    import numba

    from polopt.oracles import bandit as rx

    rng = np.random.default_rng(0)
    pi = rng.dirichlet(np.ones(K))
    r = rng.random(K)
    N = 100_000 if quick else 1_000_000
    rows = {}
    for est in rx.ESTIMATORS:
        ways = {
            "numba_mean": (N, lambda n, e=est: rx.sample_gradients(1, pi, r, e, G, n, baseline=0.5, reduce="mean")),
            "numba_dense": (N, lambda n, e=est: rx.sample_gradients(1, pi, r, e, G, n, baseline=0.5)),
            "numpy": (N // 10, lambda n, e=est: rx.sample_gradients(1, pi, r, e, G, n, baseline=0.5, backend="numpy")),
        }
        row = {}
        for way, (n, fn) in ways.items():
            fn(1000)  # compile / warm up outside the timing
            wall, cpu = _timed(lambda f=fn, m=n: f(m), repeat)
            row[way] = {"N": n, "wall_s": wall, "cpu_s": cpu, "estimates_per_s": n / wall,
                        "estimates_per_cpu_s": n / cpu if cpu > 0 else None}
            print(f"{est:10s} {way:12s} N={n:8d} wall {wall:8.4f} s  cpu {cpu:8.4f} s  "
                  f"{n / wall:12.0f} /s", flush=True)
        row["ratio_numba_mean_over_numpy"] = row["numba_mean"]["estimates_per_s"] / row["numpy"]["estimates_per_s"]
        row["meets_target"] = row["numba_mean"]["estimates_per_s"] >= TARGET_PER_S
        rows[est] = row
    return {"K": K, "G": G, "target_estimates_per_s": TARGET_PER_S, "quick": quick, "estimators": rows,
            "numba_threads": numba.get_num_threads()}


def machine_info() -> dict:
    import numba

    try:
        load = os.getloadavg()
    except OSError:
        load = None
    return {"platform": platform.platform(), "python": platform.python_version(), "cpu_count": os.cpu_count(),
            "load_average": load, "numpy": np.__version__, "numba": numba.__version__}


def summary(report: dict) -> list[dict]:
    """Rows of the ``polopt bench`` table: the fused numba kernel against the NumPy reference,
    both as the time for the numba kernel's N estimates (the NumPy run uses N / 10)."""
    rows = []
    for est, row in report["estimators"].items():
        n = row["numba_mean"]["N"]
        rows.append(summary_row(f"estimator {est} N={n}", n / row["numba_mean"]["estimates_per_s"],
                                "numpy (scaled)", n / row["numpy"]["estimates_per_s"]))
    return rows


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N = 10^5 instead of 10^6")
    parser.add_argument("--out", default=None, help="write the results as JSON to this file")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per way (best is kept)")
    add_busy_argument(parser)
    args = parser.parse_args(argv)
    with busy(args.busy):
        report = run(args.quick, args.repeat)
        report["machine"] = machine_info()
    report["busy"] = args.busy
    write_json(report, args.out)
    return report


if __name__ == "__main__":
    main()
