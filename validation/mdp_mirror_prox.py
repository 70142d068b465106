"""Mirror prox on the MDP saddle point: the averaged gap and the policy's LP suboptimality against their bounds.

Theorems ``mp_mdp.gap`` (``Gap_T <= D_v/(eta_v T) + D_mu/(eta_mu T)`` at the balanced steps) and
``mp_mdp.policy`` (``J* - J(pi_bar_T) <= Gap_T + box_slack``) on RiverSwim (gamma = 0.9), a random
discounted MDP (gamma = 0.95) and a random average-reward MDP, log-log against T, with the last
iterate's gap (no guarantee) for comparison.
"""

from __future__ import annotations

import warnings

import numpy as np

import polopt as po
from polopt.problems import catalogue
from polopt.problems.random import random_mdp

from . import Experiment, Outcome
from ._common import figure

THEOREM = "mp_mdp.gap"


def instances():
    return (
        ("RiverSwim(6), gamma = 0.9", catalogue.river_swim(6, 0.9)),
        ("random MDP S=10 A=4, gamma = 0.95", random_mdp(10, 4, gamma=0.95, seed=0)),
        ("random MDP S=8 A=3, average reward", random_mdp(8, 3, gamma=1.0, seed=1)),
    )


def run(quick: bool) -> Outcome:
    T = 2000 if quick else 20000
    fig, axes = figure(3, title="Mirror prox on the MDP saddle point (balanced steps)")
    holds, rows = True, []
    for ax, (label, mdp) in zip(axes, instances(), strict=True):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", po.NotConvergedWarning)
            res = po.solve(mdp, method="mirror_prox", iters=T, record=T // 200)
        t = np.asarray(res.info["recorded"], dtype=float)
        gap = np.asarray(res.certificates["duality_gap"])
        sub = np.asarray(res.certificates["lp_suboptimality"])
        last = np.asarray(res.certificates["duality_gap_last"])
        bound = po.theory.get(THEOREM).bound(res, t)
        v_gap, v_pol = po.theory.check(res, THEOREM), po.theory.check(res, "mp_mdp.policy")
        holds = holds and v_gap.holds and v_pol.holds
        k = t > 0
        slope = float(np.polyfit(np.log(t[k][len(t[k]) // 2:]), np.log(gap[k][len(t[k]) // 2:]), 1)[0])
        ax.loglog(t[k], gap[k], "-", label="Gap_T (averages)")
        ax.loglog(t[k], bound[k], "--", color="k", label="bound D_v/(eta_v T) + D_mu/(eta_mu T)")
        ax.loglog(t[k], np.maximum(sub[k], 1e-16), "-", label="J* - J(pi_bar_T)")
        ax.loglog(t[k], np.maximum(last[k], 1e-16), ":", label="gap of the last iterate (no guarantee)")
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("T")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
        rows.append({"instance": label, "T": T, "gap_T": float(gap[-1]), "bound_T": float(bound[-1]),
                     "worst_gap_ratio": v_gap.worst_ratio, "worst_policy_ratio": v_pol.worst_ratio,
                     "lp_suboptimality_T": float(sub[-1]), "last_iterate_gap_T": float(last[-1]),
                     "late_slope": slope, "eta_v": res.hparams["eta_v"], "eta_mu": res.hparams["eta_mu"],
                     "L": res.info["L"]})
    axes[0].set_ylabel("gap / suboptimality")
    measured = "; ".join(f"{r['instance']}: Gap_T/bound = {r['gap_T'] / r['bound_T']:.2f} (worst "
                         f"{r['worst_gap_ratio']:.2f}), late log-log slope {r['late_slope']:.2f}, policy worst ratio "
                         f"{r['worst_policy_ratio']:.2f}" for r in rows)
    return Outcome(measured, holds, fig, {"runs": rows})


EXPERIMENT = Experiment.from_theorem(
    THEOREM, run, name="mdp_mirror_prox",
    setting="balanced steps on RiverSwim (gamma 0.9), a random MDP (gamma 0.95) and a random average-reward MDP, "
            "T = 2000 (quick) / 20000; mp_mdp.policy checked on the same runs")
