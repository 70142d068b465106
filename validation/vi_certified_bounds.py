"""Value iteration's certified bounds contain v* (span stopping with midrange correction)."""

from __future__ import annotations

import numpy as np

import polopt as po
from polopt.problems import catalogue
from polopt.problems.random import random_mdp

from . import Experiment, Outcome
from ._common import figure


def run(quick: bool) -> Outcome:
    instances = {"RiverSwim n=50 g=0.99": catalogue.river_swim(50, 0.99),
                 "Puterman g=0.99": catalogue.puterman_two_state(0.99),
                 "forest g=0.9": catalogue.forest()}
    for seed in range(4 if quick else 30):
        instances[f"random seed={seed}"] = random_mdp(20, 4, gamma=0.99, seed=seed)
    below, above, err, failures = [], [], [], []
    for name, mdp in instances.items():
        res = po.solve(mdp, method="value_iteration", iters=200000, tol=1e-6)
        v_star = np.asarray(res.optimum.value)
        below.append(float(np.min(v_star - res.info["v_lower"])))
        above.append(float(np.min(res.info["v_upper"] - v_star)))
        err.append(float(np.max(np.abs(np.asarray(res.info["values"])[-1] - v_star))))
        if not po.theory.check(res, "vi.certified_bounds").holds:
            failures.append(name)
    fig, (ax,) = figure(title="VI stopped at tol 1e-6: v* lies inside [v_lower, v_upper]")
    x = np.arange(len(instances))
    ax.semilogy(x, np.maximum(below, 1e-18), "o", label="min_s v* - v_lower  (>= 0)")
    ax.semilogy(x, np.maximum(above, 1e-18), "s", label="min_s v_upper - v*  (>= 0)")
    ax.semilogy(x, np.maximum(err, 1e-18), "x", label="error of the last plain iterate")
    ax.set_xlabel("instance")
    ax.legend(fontsize=8)
    holds = not failures and min(below) >= -1e-9 and min(above) >= -1e-9
    measured = (f"{len(instances)} MDPs; min margin below {min(below):.2e}, above {min(above):.2e}; "
                f"plain last iterate error up to {max(err):.2e}")
    return Outcome(measured, holds, fig, {"below": below, "above": above, "iterate_error": err})


EXPERIMENT = Experiment.from_theorem(
    "vi.certified_bounds", run, name="vi_certified_bounds",
    setting="VI's MacQueen bounds v_k' + gamma/(1-gamma)[min, max](T v - v) contain v*",
)
