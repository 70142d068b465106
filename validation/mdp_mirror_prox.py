"""Mirror prox on the MDP saddle point: the averaged gap and the policy's LP suboptimality against their bounds.

Theorems ``mp_mdp.gap`` (``Gap_T <= D_v/(eta_v T) + D_d/(eta_d T)`` at the balanced steps) and
``mp_mdp.policy`` (``J* - J(pi_bar_T) <= Gap_T + box_slack``) on RiverSwim (gamma = 0.9), a random
discounted MDP (gamma = 0.95) and a random average-reward MDP, log-log against T, with the last
iterate's gap (no guarantee) for comparison. A fourth panel scales both balanced steps by ``sqrt(c)``
(``eta_v eta_d L^2 = c``, the rule's update called directly: the factory refuses ``c > 1``) and shows the
worst ratio of the gap to ``D_v/(eta_v T) + D_d/(eta_d T)``: where the step condition stops mattering.
"""

from __future__ import annotations

import warnings

import numpy as np

import polopt as po
from polopt import certificates
from polopt._methods import saddle as runner
from polopt.oracles.saddle import SaddleOracle
from polopt.problems import catalogue
from polopt.problems.random import garnet_mdp, random_mdp
from polopt.rules import saddle
from polopt.theory.saddle import gap_bound

from . import Experiment, Outcome
from ._common import figure

THEOREM = "mp_mdp.gap"


def instances():
    return (
        ("RiverSwim(6), gamma = 0.9", catalogue.river_swim(6, 0.9)),
        ("random MDP S=10 A=4, gamma = 0.95", random_mdp(10, 4, gamma=0.95, seed=0)),
        ("random MDP S=8 A=3, average reward", random_mdp(8, 3, gamma=1.0, seed=1)),
    )


#: Step-product multiples c = eta_v eta_d L^2 of the sweep (c <= 1 is the theorem's range).
SWEEP = (0.25, 1.0, 4.0, 16.0, 64.0)


def step_sweep(mdp, T: int, every: int, multiples=SWEEP) -> list[float]:
    """Worst ``gap / (D_v/(eta_v t) + D_d/(eta_d t))`` over recorded t <= T at each multiple c of the steps."""
    inst = runner.instance(mdp)
    S, A = inst.r.shape
    d0 = np.full((S, A), 1.0 / (S * A))
    v0 = np.full(S, 0.5 * (inst.lo + inst.hi))
    D_v, D_d = runner.diameters(inst, v0, d0)
    eta_v, eta_d = runner.steps(inst.L, D_v, D_d)
    oracle = SaddleOracle(inst.P, inst.r, inst.gamma, inst.rho, inst.lo, inst.hi)
    worst = []
    for c in multiples:
        ev, em = eta_v * np.sqrt(c), eta_d * np.sqrt(c)
        state, ratio = saddle.mdp_mirror_prox_init(np.log(d0), oracle, v0), 0.0
        for t in range(1, T + 1):
            state = saddle.mdp_mirror_prox_update(state, oracle, eta_v=ev, eta_d=em)
            if t % every == 0:
                gap = certificates.saddle_gap(inst.P, inst.r, inst.gamma, inst.rho, inst.lo, inst.hi, state.v_avg,
                                              np.exp(state.log_d_avg))
                # the bound's formula evaluated beyond its range (c > 1): L scaled so that the check passes
                ratio = max(ratio, float(gap / gap_bound(D_v, D_d, ev, em, 1.0 / np.sqrt(ev * em), t)))
        worst.append(ratio)
    return worst


def population(n: int):
    """``n`` instances: random dense and Garnet (branching 3) MDPs, discounted (gamma 0.9 / 0.99) and average reward."""
    out = []
    for k in range(n):
        S, A = 4 + k % 7, 2 + k % 3
        gamma = (0.9, 0.99, 1.0)[k % 3]
        out.append(random_mdp(S, A, gamma=gamma, seed=k) if k % 2 == 0
                   else garnet_mdp(S, A, 3, gamma=gamma, seed=k, sparse=False))
    return out


def run(quick: bool) -> Outcome:
    T = 2000 if quick else 20000
    fig, axes = figure(5, title="Mirror prox on the MDP saddle point (balanced steps)")
    holds, rows = True, []
    for ax, (label, mdp) in zip(axes[:3], instances(), strict=True):
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
        ax.loglog(t[k], bound[k], "--", color="k", label="bound D_v/(eta_v T) + D_d/(eta_d T)")
        ax.loglog(t[k], np.maximum(sub[k], 1e-16), "-", label="J* - J(pi_bar_T)")
        ax.loglog(t[k], np.maximum(last[k], 1e-16), ":", label="gap of the last iterate (no guarantee)")
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("T")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
        rows.append({"instance": label, "T": T, "gap_T": float(gap[-1]), "bound_T": float(bound[-1]),
                     "worst_gap_ratio": v_gap.worst_ratio, "worst_policy_ratio": v_pol.worst_ratio,
                     "lp_suboptimality_T": float(sub[-1]), "last_iterate_gap_T": float(last[-1]),
                     "late_slope": slope, "eta_v": res.hparams["eta_v"], "eta_d": res.hparams["eta_d"],
                     "L": res.info["L"]})
    axes[0].set_ylabel("gap / suboptimality")
    sweep_label, sweep_mdp = instances()[1]
    worst = step_sweep(sweep_mdp, 1000 if quick else 5000, 20)
    axes[3].loglog(SWEEP, worst, "o-")
    axes[3].axhline(1.0, color="k", lw=0.8)
    axes[3].axvline(1.0, color="k", ls="--", lw=0.8, label="step condition eta_v eta_d L^2 = 1")
    axes[3].set_xlabel("c = eta_v eta_d L^2 (balanced steps x sqrt(c))")
    axes[3].set_ylabel("worst Gap_t / (D_v/(eta_v t) + D_d/(eta_d t))")
    axes[3].set_title(f"step sweep, {sweep_label}", fontsize=9)
    axes[3].legend(fontsize=7)
    axes[3].grid(True, which="both", alpha=0.3)
    measured = "; ".join(f"{r['instance']}: Gap_T/bound = {r['gap_T'] / r['bound_T']:.2f} (worst "
                         f"{r['worst_gap_ratio']:.2f}), late log-log slope {r['late_slope']:.2f}, policy worst ratio "
                         f"{r['worst_policy_ratio']:.2f}" for r in rows)
    measured += "; step sweep (finding, outside the theorem): worst ratio " + ", ".join(
        f"c={c:g}: {w:.2f}" for c, w in zip(SWEEP, worst, strict=True))
    ratios, policy_ok = [], True
    for mdp in population(15 if quick else 100):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", po.NotConvergedWarning)
            res = po.solve(mdp, method="mirror_prox", iters=300, record=10)
        verdict = po.theory.check(res, THEOREM)
        holds = holds and verdict.holds
        policy_ok = policy_ok and po.theory.check(res, "mp_mdp.policy").holds
        ratios.append(verdict.worst_ratio)
    holds = holds and policy_ok
    axes[4].hist(ratios, bins=20)
    axes[4].axvline(1.0, color="k", ls="--", lw=0.8)
    axes[4].set_xlabel("worst Gap_t / bound over t <= 300")
    axes[4].set_ylabel("instances")
    axes[4].set_title(f"{len(ratios)} random + Garnet MDPs (gamma 0.9, 0.99, 1)", fontsize=9)
    measured += (f"; {len(ratios)} random/Garnet MDPs: worst Gap/bound {max(ratios):.2f} (median "
                 f"{float(np.median(ratios)):.2f}), mp_mdp.policy {'holds' if policy_ok else 'FAILS'} on all")
    data = {"runs": rows, "sweep": {"c": list(SWEEP), "worst_ratio": worst}, "population_worst_ratio": ratios}
    return Outcome(measured, holds, fig, data)


EXPERIMENT = Experiment.from_theorem(
    THEOREM, run, name="mdp_mirror_prox",
    setting="balanced steps on RiverSwim (gamma 0.9), a random MDP (gamma 0.95) and a random average-reward MDP, "
            "T = 2000 (quick) / 20000; mp_mdp.policy checked on the same runs")
