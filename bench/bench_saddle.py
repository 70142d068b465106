"""Mirror prox on the MDP saddle point: iterations per second against ``solve_mdp``'s time on the same MDP.

Run ``python -m bench.bench_saddle [--quick] [--out FILE.json] [--busy N]``. For each dense random MDP
(``random_mdp(S, A, gamma=0.95, seed=0)``) it times ``T`` updates of the rule of
:mod:`polopt.rules.saddle` with the exact oracle (the driver loop of ``po.solve`` without certificates:
``polopt.solve.run_rule`` recording only the last iterate), the duality gap of the average after ``T``
updates, and the certified exact solver :func:`polopt.exact.solve_mdp` on the same instance. The
"ratio" column of ``polopt bench`` is ``solve_mdp`` time / time of ``T`` mirror-prox updates: what a
first-order method costs against the exact answer (which it only approximates, to the gap shown).
``--busy N`` runs N spinning processes beside the timings (``bench/_common.py``).
"""

from __future__ import annotations

import json

import numpy as np

from bench import best_time
from bench._common import rows_main, summary_row
from polopt import certificates
from polopt._methods import saddle as runner
from polopt.exact import solve_mdp
from polopt.oracles.saddle import SaddleOracle
from polopt.problems.random import random_mdp
from polopt.rules import saddle
from polopt.solve import run_rule

FULL_SIZES = ((10, 4), (50, 5), (200, 10))
QUICK_SIZES = ((10, 4), (50, 5))
ITERS = 1000
QUICK_ITERS = 200


def _mirror_prox(mdp, iters: int):
    inst = runner.instance(mdp)
    S, A = inst.r.shape
    d0 = np.full((S, A), 1.0 / (S * A))
    v0 = np.full(S, 0.5 * (inst.lo + inst.hi))
    eta_v, eta_d = runner.steps(inst.L, *runner.diameters(inst, v0, d0))
    rule = saddle.mdp_mirror_prox(eta_v=eta_v, eta_d=eta_d, L=inst.L)
    oracle = SaddleOracle(inst.P, inst.r, inst.gamma, inst.rho, inst.lo, inst.hi)

    def go():
        traj = run_rule(rule, oracle, rule.init(np.log(d0), oracle, v0), iters, record=iters,
                        record_of=lambda s: s.v_avg)
        return traj.state

    def gap(state):
        return float(certificates.saddle_gap(inst.P, inst.r, inst.gamma, inst.rho, inst.lo, inst.hi, state.v_avg,
                                             np.exp(state.log_d_avg)))

    return go, gap


def run(sizes, iters: int, repeat: int = 3) -> list[dict]:
    rows = []
    for S, A in sizes:
        mdp = random_mdp(S, A, gamma=0.95, seed=0)
        go, gap = _mirror_prox(mdp, iters)
        t_mp, state = best_time(go, repeat)
        t_exact, _ = best_time(lambda: solve_mdp(mdp), repeat)  # noqa: B023  (called inside the iteration)
        row = {"S": S, "A": A, "gamma": 0.95, "iters": iters,
               "mirror_prox": {"seconds": t_mp, "iters_per_second": iters / t_mp, "duality_gap": gap(state)},
               "solve_mdp": {"seconds": t_exact}}
        rows.append(row)
        print(json.dumps(row))
    return rows


def summary(report: dict) -> list[dict]:
    """Rows of the ``polopt bench`` table: T mirror-prox updates against the exact solve of the same MDP."""
    return [summary_row(f"mirror_prox x{row['iters']} S={row['S']} A={row['A']}", row["mirror_prox"]["seconds"],
                        "polopt solve_mdp", row["solve_mdp"]["seconds"]) for row in report["rows"]]


def main(argv=None) -> dict:
    return rows_main(argv, __doc__, "mdp_mirror_prox_vs_solve_mdp", f"sizes {QUICK_SIZES}, {QUICK_ITERS} updates",
                     lambda quick: run(QUICK_SIZES if quick else FULL_SIZES, QUICK_ITERS if quick else ITERS))

if __name__ == "__main__":
    main()
