"""VI = PI = MPI = LP on random MDPs (four independent exact solvers agree)."""

from __future__ import annotations

import numpy as np

from polopt import exact
from polopt.problems.random import garnet_mdp, random_mdp
from polopt.testing.tolerances import EXACT_F64

from . import Experiment, Outcome
from ._common import figure


def run(quick: bool) -> Outcome:
    n = 5 if quick else 40
    instances = [random_mdp(25, 4, gamma=0.95, seed=s) for s in range(n)]
    instances += [garnet_mdp(60, 4, 3, gamma=0.9, seed=s) for s in range(n)]
    diffs = {"VI": [], "MPI": [], "LP": []}
    for mdp in instances:
        v_pi = exact.policy_iteration(mdp).v
        diffs["VI"].append(np.max(np.abs(exact.value_iteration(mdp, tol=1e-12).v - v_pi)))
        diffs["MPI"].append(np.max(np.abs(exact.modified_policy_iteration(mdp, tol=1e-12).v - v_pi)))
        diffs["LP"].append(np.max(np.abs(exact.linear_program(mdp).v - v_pi)))
    fig, (ax,) = figure(title="Exact solvers vs policy iteration: sup-norm difference")
    for k, d in diffs.items():
        ax.semilogy(np.maximum(d, 1e-17), "o", ms=4, label=k)
    ax.axhline(EXACT_F64, color="k", ls="--", lw=1, label="tolerance 1e-8")
    ax.set_xlabel("instance (dense, then Garnet sparse)")
    ax.legend(fontsize=8)
    worst = max(max(d) for d in diffs.values())
    return Outcome(f"{len(instances)} MDPs; max |v_X - v_PI| = {worst:.2e}", worst <= EXACT_F64, fig,
                   {k: [float(x) for x in d] for k, d in diffs.items()})


EXPERIMENT = Experiment(
    name="exact_agreement",
    claim="Value iteration, policy iteration, modified PI and the LP give the same v* (to 1e-8)",
    source="Puterman (1994) ch. 6 (all four compute the unique fixed point of T)",
    confidence="paper",
    run=run,
)
