"""KL-regularized NPG / PMD on the RLHF objective: linear rate 1 - (1-gamma) alpha with any reference."""

from __future__ import annotations

import numpy as np

import polopt as po
from polopt.theory.rlhf_pg import prox_alpha, regularized_errors

from . import Experiment, Outcome
from ._common import figure
from .pg_common import curve, instances, solve, verdicts


def _regularized(mdp, seed: int, beta: float) -> po.TabularMDP:
    """``mdp`` with a random full-support reference (Dirichlet(1) per state) and KL coefficient ``beta``."""
    mu = np.random.default_rng(1000 + seed).dirichlet(np.ones(mdp.num_actions), size=mdp.num_states)
    return po.TabularMDP(mdp.P, mdp.r, gamma=mdp.gamma, rho=mdp.rho, reference=mu, beta=beta)


def run(quick: bool) -> Outcome:
    T = 40 if quick else 150
    runs = {}
    for i, (name, mdp) in enumerate(instances(quick).items()):
        for beta in (0.05, 0.3):
            reg = _regularized(mdp, i, beta)
            for method, eta in (("npg", 0.1), ("npg", 1.0), ("policy_mirror_descent", 2.0), ("mdpo", 0.5)):
                runs[f"{name}, beta={beta:g}, {method} eta={eta:g}"] = solve(reg, method, T, eta=eta)
    holds, worst, bad = verdicts(runs, "npg.regularized_linear")
    fig, (ax,) = figure(title="RLHF NPG / PMD: ||Q*_beta - Q_beta^t|| vs C1 gamma (1 - (1-gamma) alpha)^(t-1)")
    for name, res in list(runs.items())[:2]:
        q_err, _, c1 = regularized_errors(res)
        rate = 1.0 - (1.0 - res.problem.gamma) * prox_alpha(res)
        (line,) = curve(ax, q_err, name)
        t = np.arange(1, q_err.size)
        ax.semilogy(t, np.maximum(c1 * res.problem.gamma * rate ** (t - 1), 1e-16), "--", color=line.get_color())
    ax.set_xlabel("iteration t")
    ax.legend(fontsize=6)
    measured = f"{len(runs)} runs; max error/bound = {worst:.3g}" + (f"; violated on {bad}" if bad else "")
    return Outcome(measured, holds, fig, {"worst_ratio": worst, "failures": bad})


EXPERIMENT = Experiment.from_theorem(
    "npg.regularized_linear", run, name="pg_rlhf",
    setting="KL-regularized NPG / PMD / MDPO, random references, beta in {0.05, 0.3}: ||Q*_beta - Q_beta^{t+1}|| "
    "<= C1 gamma (1 - (1-gamma) alpha)^t and ||log pi*_beta - log pi^{t+1}|| <= 2 C1 (1 - (1-gamma) alpha)^t / beta",
)
