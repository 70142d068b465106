"""Entropy-regularized NPG: linear rate 1 - eta tau with Cen et al.'s constant C1."""

from __future__ import annotations

import numpy as np

from polopt.theory.pg import cen_errors

from . import Experiment, Outcome
from ._common import figure
from .pg_common import curve, instances, solve, verdicts


def run(quick: bool) -> Outcome:
    T = 40 if quick else 150
    tau = 0.1
    runs = {f"{name}, eta={f:g}(1-gamma)/tau": solve(mdp, "entropy_npg", T, tau=tau, eta=f * (1 - mdp.gamma) / tau)
            for name, mdp in instances(quick).items() for f in (0.2, 1.0)}
    holds, worst, bad = verdicts(runs, "entropy_npg.linear")
    fig, (ax,) = figure(title="Entropy NPG: ||Q*_tau - Q_tau^t|| vs C1 gamma (1 - eta tau)^(t-1) (Cen Thm 1)")
    for name, res in list(runs.items())[:2]:
        q_err, _, c1 = cen_errors(res)
        eta = res.hparams["eta"]
        (line,) = curve(ax, q_err, name)
        t = np.arange(1, q_err.size)
        ax.semilogy(t, np.maximum(c1 * res.problem.gamma * (1 - eta * tau) ** (t - 1), 1e-16), "--",
                    color=line.get_color())
    ax.set_xlabel("iteration t")
    ax.legend(fontsize=7)
    measured = f"{len(runs)} runs; max error/bound = {worst:.3g}" + (f"; violated on {bad}" if bad else "")
    return Outcome(measured, holds, fig, {"worst_ratio": worst, "failures": bad})


EXPERIMENT = Experiment.from_theorem(
    "entropy_npg.linear", run, name="pg_entropy_npg",
    setting="Entropy NPG: ||Q*_tau - Q_tau^{t+1}|| <= C1 gamma (1-eta tau)^t, ||log pi*_tau - log pi^{t+1}|| <= "
    "2 C1 (1-eta tau)^t / tau",
)
