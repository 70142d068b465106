"""Scale: ``po.solve`` against the ``po.exact`` solver it wraps on a million-state MDP, time and peak memory.

Usage::

    python -m bench.bench_scale [--quick] [--out FILE.json] [--busy N]

Instance: ``catalogue.river_swim(10**6, 0.99, sparse=True)`` (``--quick``: ``10**5``). Each call
runs in a fresh interpreter so that its peak resident memory (``ru_maxrss``) is its own: building
the instance, then either ``po.exact.solve_mdp(mdp)`` or ``po.solve(mdp)`` (the default method,
which is ``solve_mdp`` with lazy certificates and compact iterates). Targets: ``po.solve`` within
1.2x of the exact solver's time and under 1.5 GiB peak.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

from bench._common import add_busy_argument, busy, load_average, summary_row, write_json

_CHILD = """
import json, resource, time, warnings
warnings.simplefilter("ignore")
import polopt as po
from polopt.problems import catalogue
catalogue.river_swim(5, 0.9, sparse=True)
po.exact.solve_mdp(catalogue.river_swim(5, 0.9, sparse=True))  # numba kernels compiled outside the timing
po.solve(catalogue.river_swim(5, 0.9, sparse=True))  # and the method table loaded (0.15 s, once per process)
mdp = catalogue.river_swim({n}, 0.99, sparse=True)
t = time.perf_counter()
res = {call}
t = time.perf_counter() - t
print(json.dumps({{"time_s": t, "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}}))
"""

CALLS = {"po.exact.solve_mdp": "po.exact.solve_mdp(mdp)", "po.solve(default)": "po.solve(mdp)"}


def measure(n: int, call: str) -> dict:
    out = subprocess.run([sys.executable, "-c", _CHILD.format(n=n, call=call)], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(quick: bool, repeat: int) -> dict:
    n = 10**5 if quick else 10**6
    table = {}
    for name, call in CALLS.items():
        runs = [measure(n, call) for _ in range(repeat)]
        table[name] = {"time_s": min(r["time_s"] for r in runs), "peak_rss_gib": max(r["peak_rss_gib"] for r in runs)}
        print(f"river_swim({n}) {name:22s} {table[name]['time_s']:8.3f} s  peak {table[name]['peak_rss_gib']:.2f} GiB",
              flush=True)
    ratio = table["po.solve(default)"]["time_s"] / table["po.exact.solve_mdp"]["time_s"]
    return {"instance": f"river_swim_{n}_g0.99_sparse", "solvers": table, "solve_over_exact": ratio}


def summary(report: dict) -> list[dict]:
    t = report["result"]["solvers"]
    return [summary_row(report["result"]["instance"], t["po.solve(default)"]["time_s"], "po.exact.solve_mdp",
                        t["po.exact.solve_mdp"]["time_s"])]


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10^5 states instead of 10^6")
    parser.add_argument("--out", default=None, help="write the results as JSON to this file")
    parser.add_argument("--repeat", type=int, default=2, help="fresh-interpreter runs per call (best time kept)")
    add_busy_argument(parser)
    args = parser.parse_args(argv)
    with busy(args.busy):
        result = run(args.quick, args.repeat)
        load = load_average()
    report = {"quick": args.quick, "busy": args.busy, "load_average": load, "result": result}
    write_json(report, args.out)
    return report


if __name__ == "__main__":
    main()
