"""BLAS threads and the dense exact kernels: one thread (polopt's default) vs the BLAS default.

Usage::

    python -m bench.bench_threads [--quick] [--out FILE.json] [--repeat N] [--busy N]

Each configuration runs in a fresh interpreter (``POLOPT_BLAS_THREADS`` is read at import):

* ``one``: ``POLOPT_BLAS_THREADS=1`` — what polopt does: the game kernels run under
  :func:`polopt._threads.single_threaded`;
* ``blas_default``: ``POLOPT_BLAS_THREADS=0`` — no limit: OpenBLAS uses every core.

Kernels (random intransitive games as in ``bench_games``; best of ``--repeat``):
``po.exact.nash`` (interior point + crossover) at K = 200, 500, 1000; ``po.exact.regularized_nash``
(Newton, beta = 0.05) at K = 200, 1000; ``po.exact.nash_is_unique`` (rank test) at K = 300; and
the exact policy-gradient oracle ``polopt.oracles.mdp.evaluate`` at S = 300, A = 50 (the dense
part of one exact NPG iteration: two 300 x 300 solves and a [S, A, S] @ [S] product; polopt's
rules are not limited by this module, so ``one`` wraps the call in ``single_threaded()`` to show
what it would gain). ``--quick`` uses K <= 200 and S = 100.

Overhead (``one`` only): microseconds to enter and leave ``threadpoolctl.threadpool_limits(1)``,
``blas_threads(1)`` (lowering the count) and a nested ``blas_threads(1)`` (already at the limit).

``--busy N`` starts N spinning processes beside the timings; on the 2-core machines this
targets, a second BLAS thread has to share a core with them. The JSON holds per kernel the
times of both configurations and ``ratio = blas_default / one`` (> 1: one thread is faster).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from bench import best_time
from bench._common import add_busy_argument, busy, load_average, summary_row, write_json

FULL = {"nash": (200, 500, 1000), "regularized_nash": (200, 1000), "nash_is_unique": (300,), "npg_oracle": (300,)}
QUICK = {"nash": (50, 200), "regularized_nash": (50, 200), "nash_is_unique": (100,), "npg_oracle": (100,)}
NPG_ACTIONS = 50
REG_BETA = 0.05
CONFIGS = {"one": "1", "blas_default": "0"}


#: Fast kernels are called until their calls took this long in all (best kept; see bench.best_time):
#: the best of 3 calls of a 5 ms kernel moved by 3x beside busy processes.
MIN_TOTAL_S = 0.3


def _best(fn, repeat: int) -> float:
    fn()  # warm-up: first-call costs (imports, allocation) are not the kernel's
    return best_time(fn, repeat, min_total_s=MIN_TOTAL_S)[0]


def _overhead_us(n: int = 2000) -> dict:
    import scipy.linalg  # noqa: F401  (both BLAS libraries loaded, as in a solve)
    from threadpoolctl import threadpool_limits

    from polopt._threads import blas_threads

    def per_entry(make, count):
        t0 = time.perf_counter()
        for _ in range(count):
            with make():
                pass
        return (time.perf_counter() - t0) / count * 1e6

    out = {"threadpool_limits_us": per_entry(lambda: threadpool_limits(1), 200),
           "blas_threads_us": per_entry(lambda: blas_threads(1), n)}
    with blas_threads(1):
        out["blas_threads_nested_us"] = per_entry(lambda: blas_threads(1), n)
    return out


def worker(sizes: dict, repeat: int, config: str) -> dict:
    """Times in this interpreter (its ``POLOPT_BLAS_THREADS`` was set by :func:`run`)."""
    import numpy as np

    from polopt._threads import single_threaded
    from polopt.exact import games
    from polopt.problems import PreferenceGame
    from polopt.problems.random import random_mdp

    try:
        from polopt.oracles.mdp import evaluate
    except ImportError:  # older layout: the oracle lived beside the rules
        from polopt.rules.pg import evaluate

    from bench.bench_games import random_intransitive

    out = {}
    for K in sizes["nash"]:
        g = random_intransitive(K)
        out[f"nash K={K}"] = _best(lambda g=g: games.nash(g), repeat if K < 1000 else max(1, repeat - 1))
    for K in sizes["regularized_nash"]:
        g = PreferenceGame(random_intransitive(K).P, beta=REG_BETA)
        out[f"regularized_nash K={K}"] = _best(lambda g=g: games.regularized_nash(g), repeat)
    for K in sizes["nash_is_unique"]:
        g = random_intransitive(K)
        out[f"nash_is_unique K={K}"] = _best(lambda g=g: games.nash_is_unique(g), repeat)
    for S in sizes["npg_oracle"]:
        mdp = random_mdp(S, NPG_ACTIONS, gamma=0.9, seed=0)
        P, r, rho = mdp.dense_P(), np.asarray(mdp.r), np.asarray(mdp.rho)
        pi = np.full(r.shape, 1.0 / NPG_ACTIONS)

        def oracle(P=P, r=r, rho=rho, pi=pi):
            if config == "one":
                with single_threaded():
                    return evaluate(P, r, 0.9, pi, rho)
            return evaluate(P, r, 0.9, pi, rho)

        out[f"npg_oracle S={S} A={NPG_ACTIONS}"] = _best(oracle, max(repeat, 10))
    report = {"seconds": out}
    if config == "one":
        report["overhead"] = _overhead_us()
    from threadpoolctl import threadpool_info

    report["threadpools"] = [{k: d[k] for k in ("internal_api", "num_threads", "prefix")} for d in threadpool_info()]
    return report


def run(quick: bool, repeat: int) -> dict:
    results = {}
    for config, env_value in CONFIGS.items():
        env = {**os.environ, "POLOPT_BLAS_THREADS": env_value}
        cmd = [sys.executable, "-m", "bench.bench_threads", "--worker", config, "--repeat", str(repeat)]
        if quick:
            cmd.append("--quick")
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"bench_threads worker {config!r} failed:\n{proc.stderr}")
        results[config] = json.loads(proc.stdout.strip().splitlines()[-1])
        for name, s in results[config]["seconds"].items():
            print(f"{config:13s} {name:28s} {s * 1e3:10.2f} ms", flush=True)
    one, default = results["one"]["seconds"], results["blas_default"]["seconds"]
    kernels = {name: {"one_thread_s": one[name], "blas_default_s": default[name],
                      "ratio_default_over_one": default[name] / one[name]} for name in one}
    return {"kernels": kernels, "overhead_us": results["one"]["overhead"],
            "threadpools_blas_default": results["blas_default"]["threadpools"]}


def summary(report: dict) -> list[dict]:
    """Rows of the ``polopt bench`` table: one thread (polopt) against the BLAS default."""
    return [summary_row(name, k["one_thread_s"], "blas default threads", k["blas_default_s"])
            for name, k in report["kernels"].items()]


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (seconds)")
    parser.add_argument("--out", default=None, help="write the results as JSON to this file")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per kernel (best is kept)")
    parser.add_argument("--worker", choices=sorted(CONFIGS), help=argparse.SUPPRESS)
    add_busy_argument(parser)
    args = parser.parse_args(argv)
    if args.worker:  # a child of run(): print one JSON line and stop
        print(json.dumps(worker(QUICK if args.quick else FULL, args.repeat, args.worker)))
        return {}
    with busy(args.busy):
        report = run(args.quick, args.repeat)
        load = load_average()
    report.update({"benchmark": "blas_threads", "quick": args.quick, "busy": args.busy, "load_average": load,
                   "cpu_count": os.cpu_count()})
    write_json(report, args.out)
    return report


if __name__ == "__main__":
    main()
