"""NPG with eta -> inf is policy iteration."""

from __future__ import annotations

import numpy as np

import polopt as po

from . import Experiment, Outcome
from ._common import figure
from .pg_common import curve, instances, solve, verdicts


def run(quick: bool) -> Outcome:
    T = 15
    insts = instances(quick)
    limit = {n: solve(m, "npg", T, eta=np.inf) for n, m in insts.items()}
    holds, worst, bad = verdicts(limit, "npg.pi_limit")
    name = next(iter(insts))
    mdp = insts[name]
    pi_values = po.exact.policy_iteration(mdp, pi0=np.full((mdp.num_states, mdp.num_actions), 1 / mdp.num_actions))
    fig, (ax,) = figure(title="NPG sub-optimality for growing eta; eta = inf is policy iteration")
    gaps = {}
    for eta in (1.0, 10.0, 100.0, 1e4):
        res = solve(mdp, "npg", T, eta=eta)
        gaps[eta] = res.certificates["suboptimality"]
        curve(ax, gaps[eta], f"eta={eta:g}")
    curve(ax, limit[name].certificates["suboptimality"], "eta=inf", "k--")
    # distance of the large-eta iterates from the eta = inf iterates
    far = solve(mdp, "npg", T, eta=1e6)
    dist = float(np.max(np.abs(far.iterates - limit[name].iterates)))
    ax.set_xlabel("iteration t")
    ax.legend(fontsize=7)
    measured = (f"{len(limit)} MDPs: every eta=inf step is greedy for Q^pi_t (worst off-greedy mass {worst:.2g}); "
                f"max |pi_t(eta=1e6) - pi_t(eta=inf)| = {dist:.2g}; PI needs {pi_values.num_iter} improvements")
    return Outcome(measured, holds and dist < 1e-6, fig, {"worst": worst, "dist_eta_1e6": dist, "failures": bad})


EXPERIMENT = Experiment.from_theorem(
    "npg.pi_limit", run, name="pg_pi_limit",
    setting="NPG / PMD with eta -> inf take policy-iteration steps (greedy in Q^{pi_t}); large eta approaches them",
)
