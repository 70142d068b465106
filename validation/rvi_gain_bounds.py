"""Relative value iteration brackets the optimal gain at every iterate."""

from __future__ import annotations

import numpy as np

import polopt as po
from polopt.problems import catalogue
from polopt.problems.random import random_mdp

from . import Experiment, Outcome
from ._common import figure


def run(quick: bool) -> Outcome:
    mdps = {"forest S=3 (average reward)": catalogue.forest().with_gamma(1.0)}
    for seed in range(3 if quick else 20):
        mdps[f"random S=30 A=4 seed={seed}"] = random_mdp(30, 4, gamma=1.0, seed=seed)
    fig, (ax,) = figure(title="RVI (omega = 0.5): gain bounds around g*")
    failures = []
    for i, (name, mdp) in enumerate(mdps.items()):
        res = po.solve(mdp, method="relative_value_iteration", iters=100000)
        if not po.theory.check(res, "rvi.gain_bounds").holds:
            failures.append(name)
        if i < 3:
            g = float(np.max(res.optimum.value))
            t = np.arange(len(res.info["gain_lower"]))
            ax.semilogy(t, np.maximum(g - res.info["gain_lower"], 1e-16), label=f"{name}: g* - lower")
            ax.semilogy(t, np.maximum(res.info["gain_upper"] - g, 1e-16), "--", label=f"{name}: upper - g*")
    ax.set_xlabel("iteration t")
    ax.legend(fontsize=6)
    return Outcome(f"{len(mdps)} MDPs; bound violations: {len(failures)}", not failures, fig,
                   {"failures": failures})


EXPERIMENT = Experiment.from_theorem(
    "rvi.gain_bounds", run, name="rvi_gain_bounds",
    setting="RVI: min_s (Th - h)(s) <= g* <= max_s (Th - h)(s) at every iterate (unichain)",
)
